import { describe, expect, it } from "vitest";
import { freeCapacity, hostCapacity } from "./capacity";
import { makeHost } from "./test-fixtures";

describe("hostCapacity (same numbers as the host pages)", () => {
  it.each([
    [
      "plain",
      {},
      { vcpuTotal: 8, vcpuFree: 8, memoryTotalMb: 16384, memoryFreeMb: 16384, diskTotalGb: 200, diskFreeGb: 200 },
    ],
    [
      "ratios",
      { cpuAllocationRatio: 4, ramAllocationRatio: 1.5 },
      { vcpuTotal: 32, vcpuFree: 32, memoryTotalMb: 24576, memoryFreeMb: 24576, diskTotalGb: 200, diskFreeGb: 200 },
    ],
    [
      "reserved",
      { reservedCpus: 1, reservedMemoryMb: 2048, reservedDiskGb: 50 },
      { vcpuTotal: 7, vcpuFree: 7, memoryTotalMb: 14336, memoryFreeMb: 14336, diskTotalGb: 150, diskFreeGb: 150 },
    ],
    [
      "ratio then reserved",
      { cpuAllocationRatio: 2, reservedCpus: 2, allocatedCpus: 4 },
      { vcpuTotal: 14, vcpuFree: 10, memoryTotalMb: 16384, memoryFreeMb: 16384, diskTotalGb: 200, diskFreeGb: 200 },
    ],
    [
      "over-allocated clamps at 0",
      { allocatedCpus: 9, allocatedMemoryMb: 20000, allocatedDiskGb: 201 },
      { vcpuTotal: 8, vcpuFree: 0, memoryTotalMb: 16384, memoryFreeMb: 0, diskTotalGb: 200, diskFreeGb: 0 },
    ],
    [
      "fractional product floors",
      { cpuCount: 3, cpuAllocationRatio: 1.5, memoryMb: 1001, ramAllocationRatio: 1.5 },
      { vcpuTotal: 4, vcpuFree: 4, memoryTotalMb: 1501, memoryFreeMb: 1501, diskTotalGb: 200, diskFreeGb: 200 },
    ],
    // 100 × 1.15 = 114.99999999999999 and 100 × 0.29 = 28.999999999999996 in floating point
    [
      "float noise does not cost a vCPU (1.15)",
      { cpuCount: 100, cpuAllocationRatio: 1.15 },
      { vcpuTotal: 115, vcpuFree: 115, memoryTotalMb: 16384, memoryFreeMb: 16384, diskTotalGb: 200, diskFreeGb: 200 },
    ],
    [
      "float noise does not cost a vCPU (0.29)",
      { cpuCount: 100, cpuAllocationRatio: 0.29 },
      { vcpuTotal: 29, vcpuFree: 29, memoryTotalMb: 16384, memoryFreeMb: 16384, diskTotalGb: 200, diskFreeGb: 200 },
    ],
  ])("%s", (_, overrides, expected) => {
    expect(hostCapacity(makeHost("h", "x86_64", overrides))).toMatchObject(expected);
  });

  it("freeCapacity is the free part", () => {
    expect(
      freeCapacity(makeHost("h", "x86_64", { allocatedCpus: 3, allocatedMemoryMb: 1024, allocatedDiskGb: 20 })),
    ).toEqual({ vcpus: 5, memoryMb: 15360, diskGb: 180 });
  });
});
