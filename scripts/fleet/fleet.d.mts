// Types for scripts/fleet/fleet.mjs (plain JS: `npm run up` and the CLI run it without a build).
import type { FleetArch, FleetCounts } from "./fleet-spec.mjs";

export { hostArch, normalizeArch, parseFleetSpec } from "./fleet-spec.mjs";
export type { FleetArch, FleetCounts } from "./fleet-spec.mjs";
export declare function arm64NodePrefix(): Promise<string[]>;

export interface FleetAgent {
  arch: FleetArch;
  /** 1-based within its arch: the first keeps <dataDir>/<arch> and local-<arch>, the n-th gets -<n> */
  index: number;
  emulated: boolean;
  machineId: string;
  hostId: string | null;
  url: string;
  port: number;
  pid: number;
  stateDir: string;
  bridge: string;
  logFile: string;
  ovsDb: string;
  ovsDir: string;
}
export interface FleetQemuProcess {
  pid: number;
  stateDir: string;
  machineId: string | undefined;
}
export interface Fleet {
  agents: FleetAgent[];
  errors: { arch: FleetArch; machineId: string; error: string }[];
  ovs: { dir: string; db: string; uplink: string; external: string | null };
  /** the external OVS bridge (ADR 058) every agent got as --external-bridge; null when disabled or without nft */
  externalBridge: string | null;
  /** the network namespace OVS and the agents run in (startFleet's netns), null = this process's */
  netns: string | null;
  /** ovs-vsctl against the fleet's private OVS; resolves to its stdout */
  vsctl(args: string[]): Promise<string>;
  stop(): Promise<void>;
  killAgent(
    machineId: string,
    o?: { withVms?: boolean },
  ): Promise<{ agent: number; watchdog: number | null; vms: number[] }>;
  signalAgent(machineId: string, sig: "SIGSTOP" | "SIGCONT"): void;
  restartAgent(machineId: string): Promise<FleetAgent>;
  qemuProcesses(vmId: string): FleetQemuProcess[];
}
export interface StartFleetOptions {
  controllerUrl: string;
  joinToken: string;
  dataDir: string;
  fleet?: FleetCounts | string;
  arches?: string[];
  log?: (msg: string) => void;
  agentBundle?: string;
  ports?: Record<string, number>;
  machineIdPrefix?: string;
  heartbeatMs?: number;
  agentArgs?: string[];
  controllerCa?: string;
  waitRegistered?: boolean;
  timeoutMs?: number;
  strict?: boolean;
  stopVms?: boolean;
  handleSignals?: boolean;
  /** run OVS and the agents in this network namespace (controllerUrl need not be loopback then) */
  netns?: string;
  /** the agents' listen (and advertised) address; default 127.0.0.1 */
  listenHost?: string;
  /** an external bridge on the private OVS passed to every agent as --external-bridge (default true) */
  externalBridge?: boolean;
}
export declare function startFleet(o: StartFleetOptions): Promise<Fleet>;
