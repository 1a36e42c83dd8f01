// Seeded fleets and requests shared by the placement benchmarks (pure: placement.ts; with a database:
// placement-db.ts). Seeded PRNG: every run sees the same fleets and requests, so numbers compare across commits.
import type { Arch } from "../lib/arch";
import { hostCapacity } from "../lib/scheduler/capacity";
import type { HostSnapshot, PlacementRequest } from "../lib/scheduler/types";

/** mulberry32: tiny, fast, good enough to make fleets; not for anything secret. */
export function prng(seed: number) {
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
export type Rng = ReturnType<typeof prng>;

const other = (a: Arch): Arch => (a === "x86_64" ? "aarch64" : "x86_64");

export function makeFleet(n: number, rng: Rng): HostSnapshot[] {
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

export function makeRequest(rng: Rng): PlacementRequest {
  return {
    arch: rng.chance(0.5) ? "x86_64" : "aarch64",
    vcpus: rng.pick([1, 2, 2, 4, 4, 8, 16]),
    memoryMb: rng.pick([512, 1024, 2048, 4096, 4096, 8192, 16384, 32768]),
    diskGb: rng.pick([10, 20, 20, 40, 80, 200]),
    allowEmulation: rng.chance(0.2),
    strategy: rng.chance(0.8) ? "spread" : "pack",
  };
}
