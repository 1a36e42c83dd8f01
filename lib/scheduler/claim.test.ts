import { describe, expect, it } from "vitest";
import { applyClaim, claimDelta, claimGuard, fitsAfterClaim } from "./claim";
import { DEFAULT_FILTERS, diskFilter, filterContext, ramFilter, vcpuFilter } from "./filters";
import { makeHost, makeReq } from "./test-fixtures";

describe("claim", () => {
  it("claimDelta is what the VM asks for", () => {
    expect(claimDelta(makeReq({ vcpus: 4, memoryMb: 4096, diskGb: 40 }))).toEqual({
      allocatedCpus: 4,
      allocatedMemoryMb: 4096,
      allocatedDiskGb: 40,
    });
  });

  it.each([
    ["empty host", {}, makeReq(), true],
    ["exactly full after", { allocatedCpus: 6, allocatedMemoryMb: 14336, allocatedDiskGb: 180 }, makeReq(), true],
    ["one vCPU short", { allocatedCpus: 7 }, makeReq(), false],
    ["one MiB short", { allocatedMemoryMb: 14337 }, makeReq(), false],
    ["one GiB short", { allocatedDiskGb: 181 }, makeReq(), false],
    ["overcommit gives room", { cpuAllocationRatio: 2, allocatedCpus: 14 }, makeReq(), true],
    ["reservation takes room", { reservedMemoryMb: 15000 }, makeReq(), false],
  ])("fitsAfterClaim: %s -> %s", (_, overrides, req, expected) => {
    expect(fitsAfterClaim(makeHost("h", "x86_64", overrides), req)).toBe(expected);
  });

  it("claimGuard gives the highest allocated values that still fit", () => {
    const host = makeHost("h", "x86_64", {
      cpuAllocationRatio: 4,
      reservedCpus: 2,
      reservedMemoryMb: 1024,
      reservedDiskGb: 10,
    });
    expect(claimGuard(host, makeReq({ vcpus: 4, memoryMb: 2048, diskGb: 20 }))).toEqual({
      allocatedCpus: 26,
      allocatedMemoryMb: 13312,
      allocatedDiskGb: 170,
    });
  });

  it("applyClaim returns a new snapshot and leaves the input alone", () => {
    const host = makeHost("h");
    const after = applyClaim(host, makeReq());
    expect(after).toMatchObject({ allocatedCpus: 2, allocatedMemoryMb: 2048, allocatedDiskGb: 20 });
    expect(host.allocatedCpus).toBe(0);
  });

  it("agrees with the resource filters on 2,000 random hosts (seeded)", () => {
    let seed = 42;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let i = 0; i < 2000; i++) {
      const host = makeHost("h", "x86_64", {
        cpuCount: 1 + rand(64),
        cpuAllocationRatio: [1, 1.5, 2, 4, 16][rand(5)]!,
        ramAllocationRatio: [1, 1.2, 1.5][rand(3)]!,
        memoryMb: 1024 * (1 + rand(64)),
        diskGb: 10 + rand(500),
        reservedCpus: rand(3),
        reservedMemoryMb: rand(2048),
        reservedDiskGb: rand(20),
        allocatedCpus: rand(100),
        allocatedMemoryMb: rand(80000),
        allocatedDiskGb: rand(500),
      });
      const req = makeReq({ vcpus: 1 + rand(16), memoryMb: 64 + rand(16384), diskGb: 1 + rand(100) });
      const ctx = filterContext(host, req);
      const filtersSay = [vcpuFilter, ramFilter, diskFilter].every((f) => f.check(host, req, ctx).ok);
      expect(fitsAfterClaim(host, req)).toBe(filtersSay);
    }
    expect(DEFAULT_FILTERS).toContain(vcpuFilter);
  });
});
