import "server-only";
// A VM whose QEMU ended when nobody asked (issue 15): the agent says why (VmStatus.lastExit). A guest
// that powered itself off was stopped by its user: desired state follows, nothing restarts it. A
// QEMU that died (killed, crashed) is an error the user must see — the reason on the VM and a failed
// "vm.crash" task, which notifies like any failure — and it stays stopped (no crash loop), unless
// the VM is HA: then reconciliation starts it again, as an HA manager would.
import type { VmExit } from "../../schemas/agent-api";
import { db, recordAudit } from "../platform";

/** What the status update writes along with status "stopped" for this exit. */
export function exitUpdate(exit: VmExit, ha: boolean): { desiredState: string; lastError: string | null } {
  if (exit.reason === "guest-shutdown") return { desiredState: "stopped", lastError: null };
  return { desiredState: ha ? "running" : "stopped", lastError: exit.detail };
}

/** The record of a crash the user is shown: a failed task on the VM and an audit entry. */
export async function recordCrash(vm: { id: string; name: string }, hostId: string, exit: VmExit): Promise<void> {
  if (exit.reason !== "crashed") return;
  const at = new Date(exit.at);
  const when = Number.isNaN(at.getTime()) ? new Date() : at;
  await db().task.create({
    data: {
      kind: "vm.crash",
      vmId: vm.id,
      hostId,
      status: "failed",
      error: exit.detail,
      startedAt: when,
      finishedAt: new Date(),
    },
  });
  await recordAudit({
    actor: null,
    action: "vm.crash",
    result: "error",
    targetType: "vm",
    targetId: vm.id,
    clientIp: null,
    details: { name: vm.name, hostId, detail: exit.detail },
  });
}
