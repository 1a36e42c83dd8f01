// Scheduler data shapes. Pure: no DB, no Node APIs, so the wizard can run the same code in the browser.
import type { Arch } from "../arch";

export type HostStatus = "online" | "offline";
export type HostAdminState = "enabled" | "maintenance" | "disabled";
export type Strategy = "spread" | "pack";
/** How a host would run a guest: KVM (native) or TCG (emulated). */
export type RunMode = "native" | "emulated";

/** What the scheduler needs to know about one host, as read from the database. */
export interface HostSnapshot {
  id: string;
  name: string;
  arch: Arch;
  status: HostStatus;
  adminState: HostAdminState;
  cpuCount: number;
  memoryMb: number;
  diskGb: number;
  cpuAllocationRatio: number;
  ramAllocationRatio: number;
  reservedCpus: number;
  reservedMemoryMb: number;
  reservedDiskGb: number;
  allocatedCpus: number;
  allocatedMemoryMb: number;
  allocatedDiskGb: number;
  /** arches this host runs with KVM */
  nativeArches: Arch[];
  /** arches this host runs only under TCG */
  emulatedArches: Arch[];
  /** per-VM vCPU ceiling of the accelerator; null = no limit known */
  maxVcpusNative: number | null;
  maxVcpusEmulated: number | null;
  /**
   * false: the host has no usable /dev/kvm, so even its native arches run under TCG (software).
   * Absent = KVM assumed (snapshots built by hand in pure tests and tools).
   */
  kvm?: boolean;
  /**
   * false: the host has no agent address (registered but never announced, or a row without an
   * agent) — nothing could start a VM there, so it is never a candidate. Absent = assumed reachable
   * (snapshots built by hand in pure tests and tools).
   */
  hasAgent?: boolean;
}

export interface PlacementRequest {
  arch: Arch;
  vcpus: number;
  memoryMb: number;
  diskGb: number;
  allowEmulation: boolean;
  strategy?: Strategy;
}

/** Free resources of a host (never negative). */
export interface FreeCapacity {
  vcpus: number;
  memoryMb: number;
  diskGb: number;
}

/** Computed once per host and handed to every filter, so filters stay cheap and consistent. */
export interface FilterContext {
  /** how this host would run req.arch, or null when it cannot at all */
  mode: RunMode | null;
  free: FreeCapacity;
}

export type FilterResult = { ok: true; mode?: RunMode } | { ok: false; reason: string };

/**
 * kind groups filters for the fleet-wide failure message: "availability" (host state),
 * "architecture" (can it run the arch at all), "resource" (room for this VM).
 */
export interface Filter {
  name: string;
  kind: "availability" | "architecture" | "resource";
  check(host: HostSnapshot, req: PlacementRequest, ctx: FilterContext): FilterResult;
}

/** Larger weight × positive multiplier = more preferred. Weights are normalised to 0..1 across candidates. */
export interface Weigher {
  name: string;
  weight(host: HostSnapshot, req: PlacementRequest): number;
  multiplier: number;
}

export interface HostRef {
  id: string;
  name: string;
  arch: Arch;
}

export interface Rejection {
  host: HostRef;
  reasons: string[];
}

export interface Eligible {
  host: HostSnapshot;
  score: number;
  emulated: boolean;
}

export type ScheduleResult =
  | { ok: true; host: HostSnapshot; emulated: boolean; eligible: Eligible[]; rejected: Rejection[] }
  | { ok: false; reason: string; rejected: Rejection[] };

/** One host after every filter ran: how it would run the VM and everything that rules it out. */
export interface HostEvaluation {
  host: HostSnapshot;
  ctx: FilterContext;
  mode: RunMode | null;
  failures: { filter: Filter; reason: string }[];
}
