// Types for scripts/fleet/fleet-spec.mjs (plain JS: the fleet runs without a build).
export type FleetArch = "x86_64" | "aarch64";
export type FleetCounts = Partial<Record<FleetArch, number>>;
export declare const MAX_AGENTS_PER_ARCH: number;
export declare function normalizeArch(a: unknown): FleetArch;
export declare function hostArch(): FleetArch;
export declare function parseFleetSpec(text: string | undefined, what?: string): FleetCounts;
export declare function fleetCounts(o?: { fleet?: FleetCounts | string; arches?: string[] }): FleetCounts;
export interface AgentSlot {
  arch: FleetArch;
  index: number;
  dir: string;
  machineId: string;
  bridge: string;
  patchHost: string;
  patchUplink: string;
}
export declare function agentSlots(
  counts: FleetCounts,
  o: { dataDir: string; tag: string; machineIdPrefix?: string },
): AgentSlot[];
