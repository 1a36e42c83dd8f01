// How long one placement decision takes as the fleet grows, and how many placements per second the
// pure scheduler sustains when every decision's claim shrinks the fleet it schedules into.
// Seeded PRNG: every run sees the same fleets and requests, so numbers compare across commits.
import type { Arch } from "../lib/arch";
import { applyClaim } from "../lib/scheduler/claim";
import { hostCapacity } from "../lib/scheduler/capacity";
import { schedule } from "../lib/scheduler/schedule";
import type { HostSnapshot, PlacementRequest } from "../lib/scheduler/types";
import { percentile, printTable } from "./table";

const SIZES = [100, 1_000, 10_000];
/** Decision samples per fleet size: enough for a stable p99 without taking minutes at 10,000 hosts. */
const RUNS: Record<number, number> = { 100: 2_000, 1_000: 500, 10_000: 100 };
const FILL_BUDGET_MS = Number(process.env.BENCH_PLACEMENT_MS ?? 2_000);

/** mulberry32: tiny, fast, good enough to make fleets; not for anything secret. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  return { next, pick, chance: (p: number) => next() < p };
}
type Rng = ReturnType<typeof prng>;

const other = (a: Arch): Arch => (a === "x86_64" ? "aarch64" : "x86_64");

function makeFleet(n: number, rng: Rng): HostSnapshot[] {
  return Array.from({ length: n }, (_, i) => {
    const arch: Arch = rng.chance(0.6) ? "x86_64" : "aarch64";
    const kvm = rng.chance(0.85);
    const cpuCount = rng.pick([8, 16, 32, 64, 96, 128]);
    const memoryMb = cpuCount * rng.pick([2048, 4096, 8192]);
    const diskGb = rng.pick([500, 1000, 2000, 4000]);
    const cpuAllocationRatio = rng.pick([1, 2, 4, 16]);
    const ramAllocationRatio = rng.pick([1, 1, 1.5]);
    const used = rng.next() * 0.8; // start partly full, like a fleet that has been running a while
    const host: HostSnapshot = {
      id: `h${i}`,
      name: `host-${String(i).padStart(5, "0")}`,
      arch,
      status: rng.chance(0.95) ? "online" : "offline",
      adminState: rng.chance(0.92) ? "enabled" : rng.pick(["maintenance", "disabled"] as const),
      cpuCount,
      memoryMb,
      diskGb,
      cpuAllocationRatio,
      ramAllocationRatio,
      reservedCpus: 1,
      reservedMemoryMb: 2048,
      reservedDiskGb: 20,
      allocatedCpus: 0,
      allocatedMemoryMb: 0,
      allocatedDiskGb: 0,
      nativeArches: kvm ? [arch] : [],
      emulatedArches: kvm ? (rng.chance(0.9) ? [other(arch)] : []) : [arch, other(arch)],
      maxVcpusNative: kvm ? cpuCount : null,
      maxVcpusEmulated: Math.min(cpuCount, 32),
    };
    const cap = hostCapacity(host);
    return {
      ...host,
      allocatedCpus: Math.floor(cap.vcpuTotal * used),
      allocatedMemoryMb: Math.floor(cap.memoryTotalMb * used),
      allocatedDiskGb: Math.floor(cap.diskTotalGb * used),
    };
  });
}

function makeRequest(rng: Rng): PlacementRequest {
  return {
    arch: rng.chance(0.5) ? "x86_64" : "aarch64",
    vcpus: rng.pick([1, 2, 2, 4, 4, 8, 16]),
    memoryMb: rng.pick([512, 1024, 2048, 4096, 4096, 8192, 16384, 32768]),
    diskGb: rng.pick([10, 20, 20, 40, 80, 200]),
    allowEmulation: rng.chance(0.2),
    strategy: rng.chance(0.8) ? "spread" : "pack",
  };
}

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

/** p50/p99 of one decision on a fixed fleet (the fleet is not changed). */
function decisionTimes(fleet: HostSnapshot[], runs: number, rng: Rng): { times: number[]; okPct: number } {
  for (let i = 0; i < 20; i++) schedule(fleet, makeRequest(rng)); // JIT warm-up
  const times: number[] = [];
  let ok = 0;
  for (let i = 0; i < runs; i++) {
    const req = makeRequest(rng);
    const t = performance.now();
    const r = schedule(fleet, req);
    times.push(performance.now() - t);
    if (r.ok) ok++;
  }
  return { times, okPct: (100 * ok) / runs };
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

export async function benchPlacement(): Promise<void> {
  const rows: (string | number)[][] = [];
  let baseP50 = 0;
  for (const n of SIZES) {
    const fleet = makeFleet(n, prng(n));
    const { times, okPct } = decisionTimes(fleet, RUNS[n]!, prng(1_000 + n));
    const p50 = percentile(times, 50);
    if (n === SIZES[0]) baseP50 = p50;
    const f = fill([...fleet], prng(2_000 + n));
    rows.push([
      n,
      RUNS[n]!,
      p50,
      percentile(times, 99),
      `${(p50 / baseP50).toFixed(1)}× (hosts ${n / SIZES[0]!}×)`,
      `${okPct.toFixed(0)}%`,
      f.placed,
      Math.round(f.perSecond),
      `${f.ramBefore.toFixed(0)}% → ${f.ramAfter.toFixed(0)}%`,
      f.stop,
    ]);
  }
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
}
