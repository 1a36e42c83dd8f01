// Public surface of lib/server/snapshots (issue 13): VM snapshots with their host-disk claims, and
// capture of a VM's disk or snapshot to an image. app/ imports only from here.
export { DISK_SNAPSHOT_SHARE, snapshotClaimGb } from "./claims";
export * from "./capture";
export * from "./snapshots";
