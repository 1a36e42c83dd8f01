// How long one placement decision takes as the fleet grows, and how many placements per second the
// pure scheduler sustains when every decision's claim shrinks the fleet it schedules into.
// Seeded PRNG: every run sees the same fleets and requests, so numbers compare across commits.
import { applyClaim } from "../lib/scheduler/claim";
import { hostCapacity } from "../lib/scheduler/capacity";
import { schedule } from "../lib/scheduler/schedule";
import type { HostSnapshot } from "../lib/scheduler/types";
import { makeFleet, makeRequest, prng, type Rng } from "./placement-fleet";
import { benchPlacementDb } from "./placement-db";
import { summarize } from "./summary";
import { percentile, printTable } from "./table";

const SIZES = [100, 1_000, 10_000];
/** Decision samples per fleet size: enough for a stable p99 without taking minutes at 10,000 hosts. */
const RUNS: Record<number, number> = { 100: 2_000, 1_000: 500, 10_000: 100 };
const FILL_BUDGET_MS = Number(process.env.BENCH_PLACEMENT_MS ?? 2_000);

function ramUsedPct(fleet: HostSnapshot[]): number {
  let used = 0;
  let total = 0;
  for (const h of fleet) {
    const c = hostCapacity(h);
    used += c.memoryUsedMb;
    total += c.memoryTotalMb;
  }
  return (100 * used) / total;
}

/**
 * p50/p99 of one decision per fleet size (fleets are not changed). The sizes take turns — one decision
 * each, in proportion to their run counts — so load from other processes on this shared machine hits
 * every size alike and the growth ratio compares like with like.
 */
function decisionTimes(fleets: Map<number, HostSnapshot[]>): Map<number, { times: number[]; okPct: number }> {
  const out = new Map<number, { times: number[]; ok: number; rng: Rng }>();
  for (const [n, fleet] of fleets) {
    const rng = prng(1_000 + n);
    for (let i = 0; i < 20; i++) schedule(fleet, makeRequest(rng)); // JIT warm-up
    out.set(n, { times: [], ok: 0, rng });
  }
  const most = Math.max(...SIZES.map((n) => RUNS[n]!));
  for (let r = 0; r < most; r++) {
    for (const [n, fleet] of fleets) {
      const m = out.get(n)!;
      if (r % Math.round(most / RUNS[n]!) !== 0) continue;
      const req = makeRequest(m.rng);
      const t = performance.now();
      const res = schedule(fleet, req);
      m.times.push(performance.now() - t);
      if (res.ok) m.ok++;
    }
  }
  return new Map([...out].map(([n, m]) => [n, { times: m.times, okPct: (100 * m.ok) / m.times.length }]));
}

/** Place, claim into the snapshot, repeat — until 50 requests in a row fail (full) or the time budget ends. */
function fill(fleet: HostSnapshot[], rng: Rng) {
  const index = new Map(fleet.map((h, i) => [h.id, i]));
  const ramBefore = ramUsedPct(fleet);
  let placed = 0;
  let failedInARow = 0;
  let elapsed = 0;
  while (failedInARow < 50 && elapsed < FILL_BUDGET_MS) {
    const req = makeRequest(rng);
    const t = performance.now();
    const r = schedule(fleet, req);
    if (r.ok) fleet[index.get(r.host.id)!] = applyClaim(r.host, req);
    elapsed += performance.now() - t;
    if (r.ok) {
      placed++;
      failedInARow = 0;
    } else failedInARow++;
  }
  return {
    placed,
    perSecond: (1000 * placed) / elapsed,
    ramBefore,
    ramAfter: ramUsedPct(fleet),
    stop: failedInARow >= 50 ? "full (50 misses in a row)" : `${FILL_BUDGET_MS} ms budget`,
  };
}

/**
 * The largest fleet's size made of the smallest fleet's records, repeated: the same work per host, but
 * every record stays in the CPU caches. Its growth over the smallest fleet is the algorithm's alone; the
 * rest of the real fleet's growth is memory (10,000 distinct records do not fit in a core's L2).
 */
const REPEATED = -1;

export async function benchPlacement(): Promise<void> {
  const rows: (string | number)[][] = [];
  const fleets = new Map(SIZES.map((n) => [n, makeFleet(n, prng(n))]));
  const top = SIZES[SIZES.length - 1]!;
  const base = SIZES[0]!;
  const small = fleets.get(base)!;
  RUNS[REPEATED] = RUNS[top]!;
  fleets.set(
    REPEATED,
    Array.from({ length: top }, (_, i) => small[i % base]!),
  );
  const decisions = decisionTimes(fleets);
  fleets.delete(REPEATED);
  const p50Of = (n: number) => percentile(decisions.get(n)!.times, 50);
  for (const n of SIZES) {
    const { times, okPct } = decisions.get(n)!;
    const f = fill([...fleets.get(n)!], prng(2_000 + n));
    rows.push([
      n,
      times.length,
      p50Of(n),
      percentile(times, 99),
      `${(p50Of(n) / p50Of(base)).toFixed(1)}× (hosts ${n / base}×)`,
      `${okPct.toFixed(0)}%`,
      f.placed,
      Math.round(f.perSecond),
      `${f.ramBefore.toFixed(0)}% → ${f.ramAfter.toFixed(0)}%`,
      f.stop,
    ]);
  }
  const repeated = decisions.get(REPEATED)!;
  rows.push([
    `${top} (${base} records repeated)`,
    repeated.times.length,
    p50Of(REPEATED),
    percentile(repeated.times, 99),
    `${(p50Of(REPEATED) / p50Of(base)).toFixed(1)}× (hosts ${top / base}×)`,
    `${repeated.okPct.toFixed(0)}%`,
    "-",
    "-",
    "-",
    "-",
  ]);
  const growth = p50Of(top) / p50Of(base);
  const algorithmGrowth = p50Of(REPEATED) / p50Of(base);
  const nsPerHost = (n: number, hosts: number) => ((p50Of(n) * 1e6) / hosts).toFixed(0);
  const p99Top = percentile(decisions.get(top)!.times, 99);
  summarize({
    measure: `placement, pure scheduler: p50 growth ${base} → ${top.toLocaleString("en")} hosts`,
    goal: `≤ ${top / base}× (linear)`,
    now: `${growth.toFixed(0)}× (p50 ${p50Of(base).toFixed(3)} → ${p50Of(top).toFixed(2)} ms; p99 @ ${top}: ${p99Top.toFixed(1)} ms)`,
    reference: `hosts ${top / base}×; ${top.toLocaleString("en")} hosts from ${base} records repeated (cache-resident): ${algorithmGrowth.toFixed(0)}×`,
    ok: growth <= top / base,
    note:
      growth <= top / base
        ? undefined
        : `one pass, no sort: the same work per host grows ${algorithmGrowth.toFixed(0)}× with the records in cache; ` +
          `distinct records cost ${nsPerHost(top, top)} ns/host against ${nsPerHost(base, base)} at ${base} (memory, not the algorithm)`,
  });
  printTable(
    "Placement decision (pure scheduler, mixed x86_64/aarch64 fleet, seeded; ms)",
    [
      "hosts",
      "runs",
      "p50 ms",
      "p99 ms",
      "p50 vs 100 hosts",
      "placed ok",
      "fill: placements",
      "placements/s",
      "fleet RAM used",
      "fill stopped by",
    ],
    rows,
  );
  await benchPlacementDb();
}
