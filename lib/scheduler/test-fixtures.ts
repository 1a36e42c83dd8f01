// Host/request builders for the scheduler tests (not a test file itself).
import type { Arch } from "../arch";
import type { HostSnapshot, PlacementRequest } from "./types";

const other = (a: Arch): Arch => (a === "x86_64" ? "aarch64" : "x86_64");

/** A healthy KVM host of `arch` that can also emulate the other arch; 8 CPUs, 16 GiB, 200 GiB, no overcommit. */
export function makeHost(name: string, arch: Arch = "x86_64", overrides: Partial<HostSnapshot> = {}): HostSnapshot {
  return {
    id: `id-${name}`,
    name,
    arch,
    status: "online",
    adminState: "enabled",
    cpuCount: 8,
    memoryMb: 16384,
    diskGb: 200,
    cpuAllocationRatio: 1,
    ramAllocationRatio: 1,
    reservedCpus: 0,
    reservedMemoryMb: 0,
    reservedDiskGb: 0,
    allocatedCpus: 0,
    allocatedMemoryMb: 0,
    allocatedDiskGb: 0,
    nativeArches: [arch],
    emulatedArches: [other(arch)],
    maxVcpusNative: 8,
    maxVcpusEmulated: 8,
    ...overrides,
  };
}

/** A host without /dev/kvm (like the dev machines): it runs everything under TCG. */
export function makeTcgHost(name: string, arch: Arch = "x86_64", overrides: Partial<HostSnapshot> = {}): HostSnapshot {
  return makeHost(name, arch, {
    nativeArches: [],
    emulatedArches: ["x86_64", "aarch64"],
    maxVcpusNative: null,
    ...overrides,
  });
}

export function makeReq(overrides: Partial<PlacementRequest> = {}): PlacementRequest {
  return { arch: "x86_64", vcpus: 2, memoryMb: 2048, diskGb: 20, allowEmulation: false, ...overrides };
}
