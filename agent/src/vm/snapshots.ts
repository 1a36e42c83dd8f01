// Snapshots of a VM's root disk (qcow2 internal snapshots in its overlay), optionally with the
// guest's memory. Contract: lib/schemas/agent-api.ts ("Snapshots of a VM's root disk").
// Called by VmManager under the VM's lock. (Being implemented for issue 13.)
import type { AgentSnapshot } from "../../../lib/schemas/agent-api";
import { AgentError } from "./errors";
import type { Vm, VmContext } from "./state";

const notYet = (): never => {
  throw new AgentError("unavailable", "snapshots are not implemented on this agent yet");
};

export async function listSnapshots(_ctx: VmContext, _vm: Vm): Promise<AgentSnapshot[]> {
  return notYet();
}
export async function createSnapshot(
  _ctx: VmContext,
  _vm: Vm,
  _input: { id: string; memory: boolean },
): Promise<AgentSnapshot> {
  return notYet();
}
export async function revertSnapshot(_ctx: VmContext, _vm: Vm, _snapshotId: string): Promise<void> {
  return notYet();
}
export async function deleteSnapshot(_ctx: VmContext, _vm: Vm, _snapshotId: string): Promise<void> {
  return notYet();
}
