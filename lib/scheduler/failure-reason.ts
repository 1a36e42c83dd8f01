// The one-line answer to "why can't this VM be placed?", naming the arch and what the fleet has.
// Only the failure path builds it, from every host's full evaluation (lib/scheduler/schedule.ts).
import { plural } from "./filters";
import type { Filter, HostEvaluation, PlacementRequest } from "./types";

const UNAVAILABLE_LABEL: Record<string, string> = {
  enabled: "disabled",
  maintenance: "in maintenance",
  online: "offline",
  agent: "without an agent address",
};

function hasKind(e: HostEvaluation, kind: Filter["kind"]): boolean {
  return e.failures.some((f) => f.filter.kind === kind);
}

const isAre = (n: number) => (n === 1 ? "is" : "are");
const hasHave = (n: number) => (n === 1 ? "has" : "have");

/** Group hosts that share a statement and render each group once: "2 hosts are x86_64 only (…)". */
function countStatements(
  evals: readonly HostEvaluation[],
  key: (e: HostEvaluation) => string,
  render: (e: HostEvaluation, n: number) => string,
): string[] {
  const groups = new Map<string, { first: HostEvaluation; n: number }>();
  for (const e of evals) {
    const k = key(e);
    const g = groups.get(k);
    if (g) g.n++;
    else groups.set(k, { first: e, n: 1 });
  }
  return [...groups.values()].map((g) => render(g.first, g.n));
}

function unavailableStatements(evals: readonly HostEvaluation[]): string[] {
  const label = (e: HostEvaluation) => {
    const first = e.failures.find((f) => f.filter.kind === "availability")!;
    return UNAVAILABLE_LABEL[first.filter.name] ?? first.reason;
  };
  return countStatements(
    evals,
    (e) => `${e.host.arch} ${label(e)}`,
    (e, n) => `${plural(n, `${e.host.arch} host`)} ${isAre(n)} ${label(e)}`,
  );
}

/** Why available hosts cannot run the arch, worded for a group of n hosts. */
function archStatements(evals: readonly HostEvaluation[], req: PlacementRequest): string[] {
  const arch = req.arch;
  const archReason = (e: HostEvaluation) => e.failures.find((f) => f.filter.kind === "architecture")!.reason;
  const key = (e: HostEvaluation) => (e.mode === "native" ? `custom ${archReason(e)}` : `${e.host.arch} ${e.mode}`);
  return countStatements(evals, key, (e, n) => {
    const hosts = plural(n, "host");
    if (e.host.arch === arch) {
      if (e.mode === "emulated")
        return `${plural(n, `${arch} host`)} ${hasHave(n)} no KVM (emulation not allowed for this VM)`;
      if (e.mode === null) return `${plural(n, `${arch} host`)} ${hasHave(n)} no QEMU for ${arch}`;
    } else {
      if (e.mode === "emulated") return `${hosts} ${isAre(n)} ${e.host.arch} only (emulation not allowed for this VM)`;
      if (e.mode === null) return `${hosts} ${isAre(n)} ${e.host.arch} only and cannot emulate ${arch}`;
    }
    return `${hosts}: ${archReason(e)}`; // a custom architecture filter said no
  });
}

export function failureReason(evals: readonly HostEvaluation[], req: PlacementRequest): string {
  const arch = req.arch;
  if (evals.length === 0) return `No host can run an ${arch} VM: the fleet has no hosts`;

  const unavailable = evals.filter((e) => hasKind(e, "availability"));
  const available = evals.filter((e) => !hasKind(e, "availability"));
  const capable = available.filter((e) => !hasKind(e, "architecture"));

  if (capable.length === 0) {
    return `No host can run an ${arch} VM: ${[...archStatements(available, req), ...unavailableStatements(unavailable)].join("; ")}`;
  }

  // Some hosts can run the arch but none has room: say which resource is short and by how much.
  const most = { vcpus: 0, memoryMb: 0, diskGb: 0, limit: 0 };
  for (const e of capable) {
    most.vcpus = Math.max(most.vcpus, e.ctx.free.vcpus);
    most.memoryMb = Math.max(most.memoryMb, e.ctx.free.memoryMb);
    most.diskGb = Math.max(most.diskGb, e.ctx.free.diskGb);
    const limit = e.mode === "emulated" ? e.host.maxVcpusEmulated : e.host.maxVcpusNative;
    most.limit = Math.max(most.limit, limit ?? Infinity);
  }
  const parts: string[] = [];
  if (req.vcpus > most.vcpus) parts.push(`needs ${plural(req.vcpus, "vCPU")}, the most free is ${most.vcpus}`);
  if (req.memoryMb > most.memoryMb) parts.push(`needs ${req.memoryMb} MiB RAM, the most free is ${most.memoryMb} MiB`);
  if (req.diskGb > most.diskGb) parts.push(`needs ${req.diskGb} GiB disk, the most free is ${most.diskGb} GiB`);
  if (req.vcpus > most.limit)
    parts.push(`${plural(req.vcpus, "vCPU")} exceed every host's per-VM vCPU limit (the highest is ${most.limit})`);
  if (parts.length === 0) {
    parts.push(
      `no single host has ${plural(req.vcpus, "vCPU")}, ${req.memoryMb} MiB RAM and ${req.diskGb} GiB disk free at once ` +
        `(${plural(capable.length, "host")} checked)`,
    );
  }

  // Hints: hosts that would fit if emulation were allowed, and right-arch hosts that are down.
  if (!req.allowEmulation) {
    const wouldFit = available.filter(
      (e) => e.mode === "emulated" && e.failures.every((f) => f.filter.kind === "architecture"),
    ).length;
    if (wouldFit > 0) parts.push(`${plural(wouldFit, "host")} could run it emulated (TCG) if emulation were allowed`);
  }
  parts.push(...unavailableStatements(unavailable.filter((e) => e.mode !== null)));

  const modes = new Set(capable.map((e) => e.mode));
  const prefix = !modes.has("emulated")
    ? `No ${arch} host has room`
    : modes.has("native")
      ? `No ${arch} host has room, native or emulated`
      : `No host that can emulate ${arch} has room`;
  return `${prefix}: ${parts.join("; ")}`;
}
