// Types for scripts/fleet/outside.mjs (plain JS, like fleet.mjs).
import type { Fleet } from "./fleet.mjs";

export interface Outside {
  /** the namespace (pa-e2e-out-<6hex> by default) */
  netns: string;
  /** its address with prefix, e.g. 203.0.113.1/24 */
  address: string;
  /** its address without prefix */
  ip: string;
  /** the veth end on the external bridge (pao<6hex>) and the one in the namespace (pai<6hex>) */
  outerLink: string;
  innerLink: string;
  /** argv inside the namespace; code is the exit code (0 = success) */
  exec(argv: string[], o?: { timeoutMs?: number }): Promise<{ stdout: string; stderr: string; code: number }>;
  /** ping from inside the namespace, to an address of its own /24 only */
  ping(
    target: string,
    o?: { count?: number; waitS?: number },
  ): Promise<{ received: number; out: string; code: number }>;
  /** removes the OVS port, the veth and the namespace; idempotent */
  remove(): Promise<void>;
}
export declare function createOutside(
  fleet: Pick<Fleet, "externalBridge" | "netns" | "vsctl">,
  o?: { address?: string; prefix?: string },
): Promise<Outside>;
