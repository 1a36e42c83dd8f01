// Facts of a small emulated aarch64 host as an agent reports them: for unit tests of the schema and of
// the agent's controller client (one copy, so a new required fact is added in one place).
import type { HostFacts } from "./agent-api";

export const SAMPLE_HOST_FACTS: HostFacts = {
  hostname: "h1",
  machineId: "m-1",
  arch: "aarch64",
  cpuCount: 2,
  cpuModel: "ARM Neoverse-N1",
  memoryMb: 4096,
  diskGb: 20,
  kvm: false,
  qemu: { version: "7.2.22", binaries: { aarch64: "/usr/bin/qemu-system-aarch64" }, firmware: {} },
  ovs: { available: true, version: "3.1.0", datapath: "netdev" },
  nativeArches: [],
  emulatedArches: ["aarch64"],
  maxVcpusNative: null,
  maxVcpusEmulated: 2,
  agentVersion: "0.1.0",
};
