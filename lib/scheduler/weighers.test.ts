import { describe, expect, it } from "vitest";
import { STRATEGIES, ramAfterWeigher, vcpuAfterWeigher, weighHosts, type StrategyDef } from "./weighers";
import { makeHost, makeReq } from "./test-fixtures";
import type { HostSnapshot } from "./types";

const names = (hosts: { host: HostSnapshot }[]) => hosts.map((h) => h.host.name);

describe("weigher values", () => {
  it.each([
    ["ram-after, empty host", ramAfterWeigher(1), makeHost("h"), 16384 - 2048],
    [
      "ram-after, ratio + reserved + allocated",
      ramAfterWeigher(1),
      makeHost("h", "x86_64", { ramAllocationRatio: 1.5, reservedMemoryMb: 1024, allocatedMemoryMb: 4096 }),
      24576 - 1024 - 4096 - 2048,
    ],
    ["vcpu-after, empty host", vcpuAfterWeigher(1), makeHost("h"), 8 - 2],
    [
      "vcpu-after, overcommit 4×",
      vcpuAfterWeigher(1),
      makeHost("h", "x86_64", { cpuAllocationRatio: 4, allocatedCpus: 10 }),
      32 - 10 - 2,
    ],
  ])("%s", (_, weigher, host, expected) => {
    expect(weigher.weight(host, makeReq())).toBe(expected);
  });
});

describe("strategies", () => {
  const small = makeHost("small", "x86_64", { memoryMb: 4096 });
  const mid = makeHost("mid", "x86_64", { memoryMb: 8192 });
  const big = makeHost("big", "x86_64", { memoryMb: 32768 });

  it.each([
    ["spread", [big, mid, small]],
    ["pack", [small, mid, big]],
  ] as const)("%s orders by free RAM after placement", (strategy, expected) => {
    expect(names(weighHosts([mid, small, big], makeReq(), STRATEGIES[strategy]))).toEqual(expected.map((h) => h.name));
  });

  it("normalises scores to 0..1 (× multiplier), best first", () => {
    const spread = weighHosts([mid, small, big], makeReq(), STRATEGIES.spread);
    expect(spread.map((w) => w.score)).toEqual([1, (8192 - 4096) / (32768 - 4096), 0]);
    const pack = weighHosts([mid, small, big], makeReq(), STRATEGIES.pack);
    expect(pack[0]!.score).toBeCloseTo(0);
    expect(pack[2]!.score).toBe(-1);
  });

  it.each([
    // equal free RAM: spread prefers more free vCPU, pack less; a full tie goes to the name
    ["spread", [makeHost("b", "x86_64", { cpuCount: 4 }), makeHost("a", "x86_64", { cpuCount: 16 })], ["a", "b"]],
    ["spread", [makeHost("b", "x86_64", { cpuCount: 16 }), makeHost("a", "x86_64", { cpuCount: 4 })], ["b", "a"]],
    ["pack", [makeHost("b", "x86_64", { cpuCount: 4 }), makeHost("a", "x86_64", { cpuCount: 16 })], ["b", "a"]],
    ["spread", [makeHost("c"), makeHost("a"), makeHost("b")], ["a", "b", "c"]],
    ["pack", [makeHost("c"), makeHost("a"), makeHost("b")], ["a", "b", "c"]],
  ] as const)("ties under %s", (strategy, hosts, expected) => {
    expect(names(weighHosts(hosts, makeReq(), STRATEGIES[strategy]))).toEqual(expected);
  });

  it("single candidate scores 0 (nothing to compare with)", () => {
    expect(weighHosts([mid], makeReq(), STRATEGIES.spread)).toEqual([{ host: mid, score: 0 }]);
  });

  it("sums several weighers with multipliers, so a new weigher is one list entry", () => {
    // RAM matters 1×, free vCPU 3×: lots of vCPU beats a little more RAM.
    const custom: StrategyDef = { weighers: [ramAfterWeigher(1), vcpuAfterWeigher(3)], tieBreakers: [] };
    const ramy = makeHost("ramy", "x86_64", { memoryMb: 32768, cpuCount: 4 });
    const cpuy = makeHost("cpuy", "x86_64", { memoryMb: 16384, cpuCount: 64 });
    expect(names(weighHosts([ramy, cpuy], makeReq(), custom))).toEqual(["cpuy", "ramy"]);
    expect(weighHosts([ramy, cpuy], makeReq(), custom)[0]!.score).toBe(3);
  });
});
