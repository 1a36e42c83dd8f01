import "server-only";
// Renaming a VM (issue 17): the display name is the console's alone; the guest hostname is also the
// agent's name for the VM and its cloud-init seed, so a placed VM's host is told (the seed is rebuilt
// when the VM is stopped, else at its next start). A host that does not take it undoes the change.
import { AppError } from "../../errors";
import { agentClient } from "../hosts";
import { db, recordAudit, type Caller } from "../platform";
import { requireVmAccess } from "./access";
import { refuseWhileMoving } from "./moving";
import { getVm } from "./queries";
import { specFor } from "./spec";

/** States in which the host holds a settled copy of the VM that can take a new spec. */
const SETTLED = ["running", "stopped"];

export async function renameVm(vmId: string, input: { name?: string; hostname?: string }, who: Caller) {
  await requireVmAccess(who.actor, vmId, "vm:operate", { action: "vm.update", clientIp: who.clientIp });
  const vm = await db().vm.findUniqueOrThrow({ where: { id: vmId }, include: { host: true } });
  const name = input.name ?? vm.name;
  const hostname = input.hostname ?? vm.hostname;
  if (name === vm.name && hostname === vm.hostname) return getVm(vmId);
  const hostnameChanged = hostname !== vm.hostname;
  const tellHost = hostnameChanged && vm.host?.agentUrl ? vm.host : null;
  const audit = (result: "success" | "error", reason?: string) =>
    recordAudit({
      actor: who.actor,
      action: "vm.update",
      result,
      targetType: "vm",
      targetId: vmId,
      clientIp: who.clientIp,
      details: {
        from: { name: vm.name, hostname: vm.hostname },
        to: { name, hostname },
        ...(reason ? { reason } : {}),
      },
    });
  if (tellHost) {
    await refuseWhileMoving(vmId);
    if (!SETTLED.includes(vm.status)) {
      const reason = `The hostname changes on a running or stopped VM; ${vm.name} is ${vm.status}.`;
      await audit("error", reason);
      throw new AppError({ code: "conflict", message: reason });
    }
  }
  // Conditional on the old values: two renames at once cannot both think they won.
  const taken = await db().vm.updateMany({
    where: { id: vmId, name: vm.name, hostname: vm.hostname },
    data: { name, hostname },
  });
  if (taken.count !== 1) throw new AppError({ code: "conflict", message: "The VM was renamed meanwhile; reload." });
  if (tellHost) {
    try {
      await agentClient.putVm(tellHost, vmId, await specFor(vmId));
    } catch (error) {
      await db().vm.updateMany({ where: { id: vmId, name, hostname }, data: { name: vm.name, hostname: vm.hostname } });
      await audit("error", error instanceof AppError ? error.message : "The host did not take the new hostname.");
      throw error;
    }
  }
  await audit("success");
  return getVm(vmId);
}
