import { describe, expect, it } from "vitest";
import {
  DEFAULT_FILTERS,
  agentFilter,
  architectureFilter,
  diskFilter,
  enabledFilter,
  filterContext,
  maintenanceFilter,
  onlineFilter,
  ramFilter,
  runMode,
  vcpuFilter,
  vcpuLimitFilter,
} from "./filters";
import { makeHost, makeReq, makeTcgHost } from "./test-fixtures";
import type { Filter, FilterResult, HostSnapshot, PlacementRequest } from "./types";

function run(filter: Filter, host: HostSnapshot, req: PlacementRequest): FilterResult {
  return filter.check(host, req, filterContext(host, req));
}

const OK: FilterResult = { ok: true };
const no = (reason: string): FilterResult => ({ ok: false, reason });

type Row = [string, HostSnapshot, PlacementRequest, FilterResult];

describe("enabled filter", () => {
  it.each<Row>([
    ["enabled", makeHost("h"), makeReq(), OK],
    [
      "maintenance is not this filter's business",
      makeHost("h", "x86_64", { adminState: "maintenance" }),
      makeReq(),
      OK,
    ],
    ["disabled", makeHost("h", "x86_64", { adminState: "disabled" }), makeReq(), no("host is disabled")],
  ])("%s", (_, host, req, expected) => expect(run(enabledFilter, host, req)).toEqual(expected));
});

describe("maintenance filter", () => {
  it.each<Row>([
    ["enabled", makeHost("h"), makeReq(), OK],
    ["disabled is not this filter's business", makeHost("h", "x86_64", { adminState: "disabled" }), makeReq(), OK],
    ["maintenance", makeHost("h", "x86_64", { adminState: "maintenance" }), makeReq(), no("host is in maintenance")],
  ])("%s", (_, host, req, expected) => expect(run(maintenanceFilter, host, req)).toEqual(expected));
});

describe("online filter", () => {
  it.each<Row>([
    ["online", makeHost("h"), makeReq(), OK],
    ["offline", makeHost("h", "x86_64", { status: "offline" }), makeReq(), no("host is offline")],
  ])("%s", (_, host, req, expected) => expect(run(onlineFilter, host, req)).toEqual(expected));
});

describe("architecture filter", () => {
  const armReq = (allowEmulation: boolean) => makeReq({ arch: "aarch64", allowEmulation });
  it.each<Row>([
    ["native aarch64 host", makeHost("a", "aarch64"), armReq(false), { ok: true, mode: "native" }],
    ["x86_64 host emulating, allowed", makeHost("x"), armReq(true), { ok: true, mode: "emulated" }],
    [
      "x86_64 host emulating, not allowed",
      makeHost("x"),
      armReq(false),
      no("arch x86_64 ≠ aarch64: runs aarch64 only emulated (TCG); emulation not allowed for this VM"),
    ],
    [
      "x86_64 host without aarch64 QEMU",
      makeHost("x", "x86_64", { emulatedArches: [] }),
      armReq(true),
      no("arch x86_64 ≠ aarch64"),
    ],
    ["aarch64 host without KVM, allowed", makeTcgHost("a", "aarch64"), armReq(true), { ok: true, mode: "emulated" }],
    [
      "aarch64 host without KVM, not allowed",
      makeTcgHost("a", "aarch64"),
      armReq(false),
      no("runs aarch64 only emulated (TCG); emulation not allowed for this VM"),
    ],
    [
      "aarch64 host with no QEMU at all",
      makeHost("a", "aarch64", { nativeArches: [], emulatedArches: [] }),
      armReq(true),
      no("no QEMU for aarch64 on this host"),
    ],
    [
      "aarch64 host for an x86_64 VM",
      makeHost("a", "aarch64", { emulatedArches: [] }),
      makeReq(),
      no("arch aarch64 ≠ x86_64"),
    ],
  ])("%s", (_, host, req, expected) => expect(run(architectureFilter, host, req)).toEqual(expected));

  it.each([
    [["x86_64"], [], "x86_64", "native"],
    [[], ["x86_64"], "x86_64", "emulated"],
    [["aarch64"], ["x86_64"], "x86_64", "emulated"],
    [["aarch64"], [], "x86_64", null],
  ] as const)("runMode native=%j emulated=%j for %s -> %s", (nativeArches, emulatedArches, arch, mode) => {
    expect(runMode({ nativeArches: [...nativeArches], emulatedArches: [...emulatedArches] }, arch)).toBe(mode);
  });
});

describe("vCPU filter (free = floor(cpus × ratio) − reserved − allocated)", () => {
  it.each<Row>([
    ["fits exactly", makeHost("h"), makeReq({ vcpus: 8 }), OK],
    ["too many", makeHost("h", "x86_64", { cpuCount: 2 }), makeReq({ vcpus: 4 }), no("needs 4 vCPUs, 2 free")],
    ["singular", makeHost("h", "x86_64", { allocatedCpus: 8 }), makeReq({ vcpus: 1 }), no("needs 1 vCPU, 0 free")],
    [
      "overcommit 4× makes room",
      makeHost("h", "x86_64", { cpuCount: 2, cpuAllocationRatio: 4 }),
      makeReq({ vcpus: 8 }),
      OK,
    ],
    [
      "overcommit 1.5× floors",
      makeHost("h", "x86_64", { cpuCount: 3, cpuAllocationRatio: 1.5 }),
      makeReq({ vcpus: 5 }),
      no("needs 5 vCPUs, 4 free"),
    ],
    [
      "reservation takes room",
      makeHost("h", "x86_64", { reservedCpus: 6 }),
      makeReq({ vcpus: 4 }),
      no("needs 4 vCPUs, 2 free"),
    ],
    [
      "allocation takes room",
      makeHost("h", "x86_64", { allocatedCpus: 5 }),
      makeReq({ vcpus: 4 }),
      no("needs 4 vCPUs, 3 free"),
    ],
    [
      "over-allocated shows 0 free",
      makeHost("h", "x86_64", { allocatedCpus: 12 }),
      makeReq({ vcpus: 1 }),
      no("needs 1 vCPU, 0 free"),
    ],
  ])("%s", (_, host, req, expected) => expect(run(vcpuFilter, host, req)).toEqual(expected));
});

describe("RAM filter", () => {
  it.each<Row>([
    ["fits exactly", makeHost("h"), makeReq({ memoryMb: 16384 }), OK],
    [
      "too much",
      makeHost("h", "x86_64", { memoryMb: 1024 }),
      makeReq({ memoryMb: 4096 }),
      no("needs 4096 MiB RAM, 1024 free"),
    ],
    [
      "ratio 1.5",
      makeHost("h", "x86_64", { memoryMb: 4096, ramAllocationRatio: 1.5 }),
      makeReq({ memoryMb: 6144 }),
      OK,
    ],
    [
      "ratio 1.5, just over",
      makeHost("h", "x86_64", { memoryMb: 4096, ramAllocationRatio: 1.5 }),
      makeReq({ memoryMb: 6145 }),
      no("needs 6145 MiB RAM, 6144 free"),
    ],
    [
      "reserved for the host OS",
      makeHost("h", "x86_64", { memoryMb: 8192, reservedMemoryMb: 2048 }),
      makeReq({ memoryMb: 8192 }),
      no("needs 8192 MiB RAM, 6144 free"),
    ],
    [
      "allocated",
      makeHost("h", "x86_64", { allocatedMemoryMb: 15360 }),
      makeReq({ memoryMb: 4096 }),
      no("needs 4096 MiB RAM, 1024 free"),
    ],
  ])("%s", (_, host, req, expected) => expect(run(ramFilter, host, req)).toEqual(expected));
});

describe("disk filter (no overcommit)", () => {
  it.each<Row>([
    ["fits exactly", makeHost("h"), makeReq({ diskGb: 200 }), OK],
    ["too big", makeHost("h", "x86_64", { diskGb: 10 }), makeReq({ diskGb: 20 }), no("needs 20 GiB disk, 10 free")],
    [
      "reserved",
      makeHost("h", "x86_64", { diskGb: 100, reservedDiskGb: 90 }),
      makeReq({ diskGb: 20 }),
      no("needs 20 GiB disk, 10 free"),
    ],
    [
      "allocated",
      makeHost("h", "x86_64", { allocatedDiskGb: 190 }),
      makeReq({ diskGb: 20 }),
      no("needs 20 GiB disk, 10 free"),
    ],
    [
      "ratios do not apply to disk",
      makeHost("h", "x86_64", { diskGb: 10, cpuAllocationRatio: 4, ramAllocationRatio: 2 }),
      makeReq({ diskGb: 11 }),
      no("needs 11 GiB disk, 10 free"),
    ],
  ])("%s", (_, host, req, expected) => expect(run(diskFilter, host, req)).toEqual(expected));
});

describe("per-host accelerator vCPU limit", () => {
  it.each<Row>([
    ["KVM within limit", makeHost("h", "x86_64", { maxVcpusNative: 8 }), makeReq({ vcpus: 8 }), OK],
    [
      "KVM over limit",
      makeHost("h", "x86_64", { maxVcpusNative: 2, cpuAllocationRatio: 4 }),
      makeReq({ vcpus: 4 }),
      no("4 vCPUs exceed the 2-vCPU limit of KVM on this host"),
    ],
    [
      "TCG over limit",
      makeHost("h", "x86_64", { maxVcpusEmulated: 2 }),
      makeReq({ arch: "aarch64", vcpus: 4, allowEmulation: true }),
      no("4 vCPUs exceed the 2-vCPU limit of TCG on this host"),
    ],
    [
      "TCG limit checked even when emulation is not allowed",
      makeHost("h", "x86_64", { maxVcpusEmulated: 2 }),
      makeReq({ arch: "aarch64", vcpus: 4 }),
      no("4 vCPUs exceed the 2-vCPU limit of TCG on this host"),
    ],
    [
      "the native limit does not apply to emulated guests",
      makeHost("h", "x86_64", { maxVcpusNative: 1, maxVcpusEmulated: 8 }),
      makeReq({ arch: "aarch64", vcpus: 4, allowEmulation: true }),
      OK,
    ],
    ["no known limit", makeHost("h", "x86_64", { maxVcpusNative: null }), makeReq({ vcpus: 8 }), OK],
    [
      "host cannot run the arch: left to the architecture filter",
      makeHost("h", "x86_64", { emulatedArches: [], maxVcpusEmulated: 1 }),
      makeReq({ arch: "aarch64", vcpus: 4 }),
      OK,
    ],
  ])("%s", (_, host, req, expected) => expect(run(vcpuLimitFilter, host, req)).toEqual(expected));
});

it("the default chain runs state, then arch, then room", () => {
  expect(DEFAULT_FILTERS.map((f) => `${f.kind}:${f.name}`)).toEqual([
    "availability:enabled",
    "availability:maintenance",
    "availability:online",
    "availability:agent",
    "architecture:architecture",
    "resource:vcpu",
    "resource:ram",
    "resource:disk",
    "resource:vcpu-limit",
  ]);
});

describe("agentFilter", () => {
  it("refuses a host row without an agent address and names why", () => {
    expect(run(agentFilter, makeHost("seed", "aarch64", { hasAgent: false }), makeReq({ arch: "aarch64" }))).toEqual({
      ok: false,
      reason: "host has no agent address (its agent never announced itself)",
    });
  });
  it("passes a host with an agent, and a hand-built snapshot that does not say", () => {
    expect(run(agentFilter, makeHost("h", "x86_64", { hasAgent: true }), makeReq())).toEqual({ ok: true });
    expect(run(agentFilter, makeHost("h", "x86_64"), makeReq())).toEqual({ ok: true });
  });
});
