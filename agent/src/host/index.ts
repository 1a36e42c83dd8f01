// This machine: facts (arch, CPUs, memory, QEMU binaries, firmware, KVM, OVS), usage and
// CPU/memory metrics for the heartbeat, and the agent's own version.
export {
  archRefusal,
  describeCapabilities,
  detectFacts,
  UsageSampler,
  which,
  type DetectOptions,
  type HostUsage,
} from "./facts";
export { detectGicVersion, parseCpuId, parseMachineHelp } from "./compat";
export { MetricsSampler, type MetricsSamplerOptions } from "./metrics";
export { AGENT_VERSION } from "./version";
