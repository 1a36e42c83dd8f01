// The host's HA fence (ADR 036, agent side): the lease the agent renews on every acknowledged
// heartbeat, and the separate watchdog process that kills fenced VMs when the lease lapses.
export { fenceTargets, isQemuOf, type FenceTarget } from "./fence-vms";
export {
  bootId,
  FENCED_FILE,
  fenceDirOf,
  judgeLease,
  LeaseKeeper,
  leaseFileOf,
  leaseFor,
  monotonicMs,
  WATCHDOG_COMMAND,
  type Lease,
  type LeaseVerdict,
} from "./lease";
export {
  ensureWatchdog,
  findWatchdog,
  isWatchdogArgv,
  stopWatchdog,
  waitForWatchdog,
  watchdogArgv,
  watchdogPidFileOf,
  type WatchdogLaunch,
} from "./supervisor";
export { fenceOnce, runWatchdog, type FenceRecord } from "./watchdog";
