// schedule(): filters → native-first → weighers. Pure and synchronous; the claim happens in the server.
//
// Linear in the fleet (issue 16): the decision itself only needs to know which hosts pass and which
// of them scores best, so it stops at a host's first failing filter, keeps indices in typed arrays
// and picks the best in one pass. Everything a person reads — every rejected host's reasons, the
// whole ranked list — is built lazily on first access of `rejected` / `eligible` (then cached), with
// exactly the content the eager version had. The create path reads neither; the preview reads both.
import { DEFAULT_FILTERS, defaultFiltersVerdict, filterContext } from "./filters";
import { failureReason } from "./failure-reason";
import { STRATEGIES, bestIndex, rankOrder, scoreHosts, type StrategyDef } from "./weighers";
import type {
  Eligible,
  Filter,
  HostEvaluation,
  HostRef,
  HostSnapshot,
  PlacementRequest,
  Rejection,
  RunMode,
  ScheduleResult,
  Strategy,
} from "./types";

// The types callers need next to schedule() (lib/server/vms/placement.ts imports them from here).
export type {
  Eligible,
  HostEvaluation,
  HostSnapshot,
  PlacementRequest,
  Rejection,
  ScheduleResult,
  Strategy,
} from "./types";
export { failureReason } from "./failure-reason";

export interface ScheduleOptions {
  /** replace the filter chain (default DEFAULT_FILTERS) */
  filters?: readonly Filter[];
  /** replace or add strategies (default STRATEGIES) */
  strategies?: Partial<Record<Strategy, StrategyDef>>;
}

/** Every filter on one host, no short-circuit: all reasons, for people (rejections, failure text, migration). */
export function evaluateHost(
  host: HostSnapshot,
  req: PlacementRequest,
  filters: readonly Filter[] = DEFAULT_FILTERS,
): HostEvaluation {
  const ctx = filterContext(host, req);
  let mode = ctx.mode;
  const failures: HostEvaluation["failures"] = [];
  for (const filter of filters) {
    const r = filter.check(host, req, ctx);
    if (!r.ok) failures.push({ filter, reason: r.reason });
    else if (r.mode) mode = r.mode;
  }
  return { host, ctx, mode, failures };
}

/**
 * The decision's view of one host: undefined when some filter rules it out (stops at the first one;
 * filters are pure, so the verdict is the one evaluateHost would reach), else the run mode.
 */
function passingMode(
  host: HostSnapshot,
  req: PlacementRequest,
  filters: readonly Filter[],
): RunMode | null | undefined {
  const ctx = filterContext(host, req);
  let mode = ctx.mode;
  for (const filter of filters) {
    const r = filter.check(host, req, ctx);
    if (!r.ok) return undefined;
    if (r.mode) mode = r.mode;
  }
  return mode;
}

export function hostRef(h: HostSnapshot): HostRef {
  return { id: h.id, name: h.name, arch: h.arch };
}

/** Defines `key` as a getter that computes once, then becomes a plain (enumerable, JSON-visible) value. */
function lazy<T extends object>(obj: T, key: string, compute: () => unknown): void {
  Object.defineProperty(obj, key, {
    enumerable: true,
    configurable: true,
    get() {
      const value = compute();
      Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
      return value;
    },
  });
}

// Per-host outcome of the fast pass (fleet order), enough to rebuild every rejection later.
// 0 (the Uint8Array's initial value): some filter said no.
const CANDIDATE = 1;
const NOT_NATIVE = 2; // passed, but emulated while a native host is available

export function schedule(
  hosts: readonly HostSnapshot[],
  req: PlacementRequest,
  options: ScheduleOptions = {},
): ScheduleResult {
  const filters = options.filters ?? DEFAULT_FILTERS;
  const strategy = req.strategy ?? "spread";
  const def = options.strategies?.[strategy] ?? STRATEGIES[strategy];

  const n = hosts.length;
  const fast = filters === DEFAULT_FILTERS; // the same verdict, without a context and result per filter
  const outcome = new Uint8Array(n); // all 0: rejected until they pass
  const native: number[] = [];
  const emulated: number[] = [];
  for (let i = 0; i < n; i++) {
    const mode = fast ? defaultFiltersVerdict(hosts[i]!, req) : passingMode(hosts[i]!, req, filters);
    if (mode === undefined) continue;
    // Native first: KVM is an order of magnitude faster than TCG, so emulation is only a fallback.
    // (Emulated hosts pass the architecture filter only when the VM allows emulation.)
    (mode === "emulated" ? emulated : native).push(i);
  }
  const picked = native.length > 0 ? native : emulated;
  const pickedEmulated = picked === emulated;
  for (const i of picked) outcome[i] = CANDIDATE;
  if (picked === native) for (const i of emulated) outcome[i] = NOT_NATIVE;

  if (picked.length === 0) {
    // Nothing fits: the message needs every host's full evaluation anyway, so build it all now.
    const evals = hosts.map((h) => evaluateHost(h, req, filters));
    const rejected = evals.map((e) => ({ host: hostRef(e.host), reasons: e.failures.map((f) => f.reason) }));
    return { ok: false, reason: failureReason(evals, req), rejected };
  }

  const candidates = picked.map((i) => hosts[i]!);
  const scored = scoreHosts(candidates, req, def);
  const best = candidates[bestIndex(scored)]!;
  const result = { ok: true as const, host: best, emulated: pickedEmulated } as ScheduleResult & { ok: true };
  lazy(result, "eligible", (): Eligible[] =>
    rankOrder(scored).map((i) => ({ host: candidates[i]!, score: scored.scores[i]!, emulated: pickedEmulated })),
  );
  const fleet = hosts.slice(); // callers may replace hosts in their array afterwards (claims): keep this fleet
  lazy(result, "rejected", () => rejections(fleet, req, filters, outcome));
  return result;
}

/** Every host that is not a candidate, in fleet order, with every reason (the eager version's exact output). */
function rejections(
  hosts: readonly HostSnapshot[],
  req: PlacementRequest,
  filters: readonly Filter[],
  outcome: Uint8Array,
): Rejection[] {
  const out: Rejection[] = [];
  for (let i = 0; i < hosts.length; i++) {
    const o = outcome[i];
    if (o === CANDIDATE) continue;
    const host = hosts[i]!;
    const reasons =
      o === NOT_NATIVE
        ? [`a native ${req.arch} host is available`]
        : evaluateHost(host, req, filters).failures.map((f) => f.reason);
    out.push({ host: hostRef(host), reasons });
  }
  return out;
}
