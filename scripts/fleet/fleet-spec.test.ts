import { describe, expect, it } from "vitest";
import { agentSlots, fleetCounts, parseFleetSpec } from "./fleet-spec.mjs";

describe("POLYARCH_FLEET", () => {
  it("reads counts per arch, aliases and a bare arch as 1", () => {
    expect(parseFleetSpec("x86_64:2,aarch64:2")).toEqual({ x86_64: 2, aarch64: 2 });
    expect(parseFleetSpec(" arm64:3 , amd64 ")).toEqual({ aarch64: 3, x86_64: 1 });
  });

  it.each([
    ["", /is empty/],
    ["riscv64:2", /unknown architecture "riscv64"/],
    ["x86_64:0", /from 1 to 8 \(got "0"\)/],
    ["x86_64:9", /from 1 to 8/],
    ["x86_64:-1", /from 1 to 8/],
    ["x86_64:1.5", /from 1 to 8/],
    ["x86_64:two", /from 1 to 8/],
    ["x86_64:", /from 1 to 8/],
    ["x86_64:1,amd64:2", /x86_64 is named twice/],
    ["x86 64", /is not <arch>\[:<count>\]/],
  ])("refuses %j", (text, why) => {
    expect(() => parseFleetSpec(text)).toThrow(why);
  });

  it("takes an object (0 leaves an arch out), a string, or one agent per listed arch", () => {
    expect(fleetCounts({ fleet: { x86_64: 2, aarch64: 0 } })).toEqual({ x86_64: 2 });
    expect(fleetCounts({ fleet: "aarch64:2" })).toEqual({ aarch64: 2 });
    expect(fleetCounts({ arches: ["x86_64", "arm64"] })).toEqual({ x86_64: 1, aarch64: 1 });
    expect(fleetCounts({})).toEqual({ x86_64: 1 });
    expect(() => fleetCounts({ fleet: { x86_64: 9 } })).toThrow(/from 0 to 8/);
    expect(() => fleetCounts({ fleet: { x86_64: 0 } })).toThrow(/no agent/);
  });
});

describe("agent slots", () => {
  const slots = agentSlots({ x86_64: 2, aarch64: 8 }, { dataDir: "/d", tag: "abc123" });

  it("keeps the first agent of an arch as a one-per-arch fleet always named it; the n-th gets -<n>", () => {
    expect(slots[0]).toEqual({
      arch: "x86_64",
      index: 1,
      dir: "/d/x86_64",
      machineId: "local-x86_64",
      bridge: "paabc123x",
      patchHost: "paabc123xp",
      patchUplink: "paabc123ux",
    });
    expect(slots[1]).toMatchObject({ index: 2, dir: "/d/x86_64-2", machineId: "local-x86_64-2", bridge: "paabc123x2" });
    expect(slots[2]).toMatchObject({ arch: "aarch64", index: 1, dir: "/d/aarch64", machineId: "local-aarch64" });
  });

  it("gives every agent unique interface names within Linux's 15 characters", () => {
    const names = slots.flatMap((s) => [s.bridge, s.patchHost, s.patchUplink]);
    expect(new Set(names).size).toBe(names.length);
    expect(Math.max(...names.map((n) => n.length))).toBeLessThanOrEqual(15);
    expect(names).not.toContain("paabc123u"); // the uplink bridge
  });
});
