// schedule() decides in one linear pass and builds `eligible` / `rejected` lazily (issue 16). This pins it
// to the straightforward version it replaced — every filter on every host, sort every candidate — on
// seeded random fleets full of ties, so the faster path can never pick a different host or word a
// rejection differently.
import { describe, expect, it } from "vitest";
import type { Arch } from "../arch";
import { DEFAULT_FILTERS } from "./filters";
import { evaluateHost, failureReason, hostRef, schedule } from "./schedule";
import { makeHost } from "./test-fixtures";
import type { Filter, HostSnapshot, PlacementRequest, ScheduleResult } from "./types";
import { STRATEGIES, weighHosts } from "./weighers";

/** The eager scheduler as it was before issue 16. */
function referenceSchedule(hosts: readonly HostSnapshot[], req: PlacementRequest): ScheduleResult {
  const evals = hosts.map((h) => evaluateHost(h, req, DEFAULT_FILTERS));
  const passed = evals.filter((e) => e.failures.length === 0);
  const native = passed.filter((e) => e.mode !== "emulated");
  const candidates = native.length > 0 ? native : passed;
  const chosen = new Set(candidates);
  const rejected = evals
    .filter((e) => !chosen.has(e))
    .map((e) => ({
      host: hostRef(e.host),
      reasons: e.failures.length > 0 ? e.failures.map((f) => f.reason) : [`a native ${req.arch} host is available`],
    }));
  if (candidates.length === 0) return { ok: false, reason: failureReason(evals, req), rejected };
  const emulatedOf = new Map(candidates.map((e) => [e.host, e.mode === "emulated"]));
  const weighed = weighHosts(
    candidates.map((e) => e.host),
    req,
    STRATEGIES[req.strategy ?? "spread"],
  );
  const eligible = weighed.map((w) => ({ host: w.host, score: w.score, emulated: emulatedOf.get(w.host)! }));
  return { ok: true, host: eligible[0]!.host, emulated: eligible[0]!.emulated, eligible, rejected };
}

function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
}

/** Few distinct sizes and fill levels, so equal scores (and equal tie-breakers) are common. */
function fleet(n: number, pick: ReturnType<typeof rng>): HostSnapshot[] {
  return Array.from({ length: n }, (_, i) => {
    const arch = pick<Arch>(["x86_64", "aarch64"]);
    const kvm = pick([true, true, false]);
    const cpuCount = pick([4, 8, 16]);
    return makeHost(pick(["a", "b", "c", `h${i}`]), arch, {
      id: `id-${i}`,
      status: pick(["online", "online", "online", "offline"] as const),
      adminState: pick(["enabled", "enabled", "enabled", "maintenance", "disabled"] as const),
      cpuCount,
      memoryMb: pick([4096, 16384]),
      diskGb: pick([50, 200]),
      cpuAllocationRatio: pick([1, 2]),
      allocatedCpus: pick([0, 2, 4]),
      allocatedMemoryMb: pick([0, 2048, 4096]),
      allocatedDiskGb: pick([0, 40]),
      nativeArches: kvm ? [arch] : [],
      emulatedArches: pick([[], ["x86_64", "aarch64"] as Arch[]]),
      maxVcpusNative: kvm ? cpuCount : null,
      maxVcpusEmulated: pick([2, 8, null]),
      ...(pick([true, true, true, false]) ? {} : { hasAgent: false }),
    });
  });
}

const plain = (r: ScheduleResult) => JSON.parse(JSON.stringify(r)) as unknown;

describe("schedule() equals the eager reference", () => {
  it("on 400 seeded fleets and requests (ties, emulation, full and unavailable hosts)", () => {
    const pick = rng(16);
    let ok = 0;
    for (let round = 0; round < 400; round++) {
      const hosts = fleet(pick([0, 1, 3, 8, 25, 60]), pick);
      const req: PlacementRequest = {
        arch: pick<Arch>(["x86_64", "aarch64"]),
        vcpus: pick([1, 2, 4, 8]),
        memoryMb: pick([512, 2048, 8192]),
        diskGb: pick([10, 40, 100]),
        allowEmulation: pick([true, false]),
        strategy: pick(["spread", "pack", undefined] as const),
      };
      const fast = schedule(hosts, req);
      expect(plain(fast)).toEqual(plain(referenceSchedule(hosts, req)));
      if (fast.ok) ok++;
    }
    expect(ok).toBeGreaterThan(50); // the fleets are not all hopeless
  });
});

describe("the decision does not build what nobody reads", () => {
  it("stops at a host's first failing filter; every reason appears once `rejected` is read", () => {
    let calls = 0;
    const counted: Filter[] = DEFAULT_FILTERS.map((f) => ({
      ...f,
      check: (h, r, c) => {
        calls++;
        return f.check(h, r, c);
      },
    }));
    const hosts = [
      makeHost("fits"),
      makeHost("down", "x86_64", { status: "offline", adminState: "disabled", memoryMb: 1024 }),
    ];
    const req = { arch: "x86_64", vcpus: 2, memoryMb: 2048, diskGb: 20, allowEmulation: false } as const;
    const r = schedule(hosts, req, { filters: counted });
    expect(r.ok && r.host.name).toBe("fits");
    expect(calls).toBe(DEFAULT_FILTERS.length + 1); // all for "fits", one for "down"
    expect(r.rejected).toEqual([
      {
        host: { id: "id-down", name: "down", arch: "x86_64" },
        reasons: ["host is disabled", "host is offline", "needs 2048 MiB RAM, 1024 free"],
      },
    ]);
    const afterRejected = calls;
    expect(r.rejected).toBe(r.rejected); // computed once, then a plain value
    expect(calls).toBe(afterRejected);
    expect(Object.keys(r)).toEqual(expect.arrayContaining(["eligible", "rejected"]));
  });
});
