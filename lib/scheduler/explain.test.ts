import { describe, expect, it } from "vitest";
import { capacityByArch, explainPlacement, runsAs, scheduleAndExplain } from "./explain";
import { schedule } from "./schedule";
import { makeHost, makeReq, makeTcgHost } from "./test-fixtures";

describe("explainPlacement", () => {
  const fleet = [
    makeHost("a1", "aarch64"),
    makeHost("a2", "aarch64", { memoryMb: 4096 }),
    makeHost("x1"),
    makeHost("a-off", "aarch64", { status: "offline" }),
  ];

  it("summarises a success for the wizard (JSON-safe, no snapshot internals)", () => {
    const req = makeReq({ arch: "aarch64" });
    const out = explainPlacement(schedule(fleet, req), req);
    expect(out).toEqual({
      ok: true,
      arch: "aarch64",
      reason: null,
      eligibleCount: 2,
      chosen: { id: "id-a1", name: "a1", arch: "aarch64", emulated: false, kvm: true, runsAs: "natively with KVM" },
      eligible: [
        { id: "id-a1", name: "a1", arch: "aarch64", emulated: false, score: 1 },
        { id: "id-a2", name: "a2", arch: "aarch64", emulated: false, score: 0 },
      ],
      rejected: [
        {
          id: "id-x1",
          name: "x1",
          arch: "x86_64",
          reasons: ["arch x86_64 ≠ aarch64: runs aarch64 only emulated (TCG); emulation not allowed for this VM"],
        },
        { id: "id-a-off", name: "a-off", arch: "aarch64", reasons: ["host is offline"] },
      ],
    });
    expect(JSON.parse(JSON.stringify(out))).toEqual(out);
  });

  it("summarises a failure with the reason", () => {
    const req = makeReq({ arch: "aarch64", memoryMb: 65536 });
    const out = scheduleAndExplain(fleet, req);
    expect(out).toMatchObject({ ok: false, arch: "aarch64", eligibleCount: 0, chosen: null, eligible: [] });
    expect(out.reason).toBe(
      "No aarch64 host has room: needs 65536 MiB RAM, the most free is 16384 MiB; 1 aarch64 host is offline",
    );
    expect(out.rejected.map((r) => r.name)).toEqual(["a1", "a2", "x1", "a-off"]);
  });

  it("marks an emulated choice", () => {
    const out = scheduleAndExplain([makeHost("x1")], makeReq({ arch: "aarch64", allowEmulation: true }));
    expect(out.chosen).toMatchObject({ id: "id-x1", name: "x1", arch: "x86_64", emulated: true });
    expect(out.chosen?.runsAs).toMatch(/^emulated \(TCG\) on an x86_64 host/);
  });

  it("says a native guest on a host without KVM runs in software, not emulated", () => {
    const out = scheduleAndExplain([makeHost("a1", "aarch64", { kvm: false })], makeReq({ arch: "aarch64" }));
    expect(out.chosen).toMatchObject({ emulated: false, kvm: false, runsAs: "software (TCG) — no KVM on this host" });
  });
});

describe("capacityByArch", () => {
  it("is zero for an empty fleet", () => {
    expect(capacityByArch([]).aarch64).toEqual({
      arch: "aarch64",
      hosts: 0,
      hostsOnline: 0,
      nativeHosts: 0,
      emulatedHosts: 0,
      vcpuFree: 0,
      memoryFreeMb: 0,
      diskFreeGb: 0,
      largestVcpuFree: 0,
      largestMemoryFreeMb: 0,
    });
  });

  it("sums native free capacity of usable hosts per arch", () => {
    const caps = capacityByArch([
      makeHost("a1", "aarch64", { allocatedCpus: 2, allocatedMemoryMb: 4096, allocatedDiskGb: 50 }),
      makeHost("a2", "aarch64", { cpuCount: 32, cpuAllocationRatio: 2, maxVcpusNative: 32 }),
      makeHost("a-off", "aarch64", { status: "offline" }),
      makeHost("a-maint", "aarch64", { adminState: "maintenance" }),
      makeHost("x1", "x86_64", { ramAllocationRatio: 1.5 }),
      makeTcgHost("x-tcg", "x86_64"),
    ]);
    expect(caps.aarch64).toEqual({
      arch: "aarch64",
      hosts: 4,
      hostsOnline: 2,
      nativeHosts: 2,
      emulatedHosts: 2, // x1 and x-tcg
      vcpuFree: 6 + 64,
      memoryFreeMb: 12288 + 16384,
      diskFreeGb: 150 + 200,
      largestVcpuFree: 32, // 64 free, but KVM caps one VM at 32
      largestMemoryFreeMb: 16384,
    });
    expect(caps.x86_64).toEqual({
      arch: "x86_64",
      hosts: 2,
      hostsOnline: 2,
      nativeHosts: 1,
      emulatedHosts: 3, // a1, a2 (emulate x86_64) and x-tcg (no KVM)
      vcpuFree: 8,
      memoryFreeMb: 24576,
      diskFreeGb: 200,
      largestVcpuFree: 8,
      largestMemoryFreeMb: 24576,
    });
  });
});

describe("runsAs (ADR 003 wording)", () => {
  it("calls only a foreign-arch guest emulated; a native guest without KVM runs in software", () => {
    expect(runsAs({ emulated: false, kvm: true, hostArch: "aarch64" })).toBe("natively with KVM");
    expect(runsAs({ emulated: false, kvm: false, hostArch: "aarch64" })).toBe("software (TCG) — no KVM on this host");
    expect(runsAs({ emulated: true, kvm: true, hostArch: "x86_64" })).toMatch(/^emulated \(TCG\) on an x86_64 host/);
    expect(runsAs({ emulated: true, kvm: false, hostArch: "x86_64" })).toMatch(/^emulated/);
  });
});
