// The VM's root disk as one standalone qcow2 (capture to image). Contract: lib/schemas/agent-api.ts
// (GET /v1/vms/:id/disk). Called by VmManager under the VM's lock. (Being implemented for issue 13.)
import { AgentError } from "./errors";
import type { Vm, VmContext } from "./state";

export interface ExportedDisk {
  /** a temporary file the caller streams and then removes with cleanup() */
  path: string;
  sizeBytes: number;
  cleanup(): Promise<void>;
}

export async function exportDisk(_ctx: VmContext, _vm: Vm, _opts: { snapshotId?: string }): Promise<ExportedDisk> {
  throw new AgentError("unavailable", "disk export is not implemented on this agent yet");
}
