import "server-only";
// Operating VMs after create: start / stop / reboot / power off, retry of a failed create, delete.
// Each runs as a task with steps and is audited, whichever path (server action or API) called it.
import { AppError } from "../../errors";
import { agentClient } from "../hosts";
import { db, recordAudit, type Caller } from "../platform";
import { releaseNics } from "../networks";
import { placeAndRecord, releaseHost } from "./placement";
import { CREATE_STEPS, createTask, finishTask, setStep } from "./tasks";
import { getVm } from "./queries";
import { requireVmAccess } from "./access";
import { refuseWhileMoving } from "./moving";
import { loadImageFor } from "./create";
import { noteAndProvision } from "./provision";
import { vmStatusFromAgent } from "./status";

const ALLOWED: Record<string, string[]> = {
  start: ["stopped", "unknown", "running"],
  stop: ["running", "unknown"],
  reboot: ["running"],
  poweroff: ["running", "unknown", "creating"],
};

/** `opts.provision: false` (tests): a retry claims capacity and records its task but does not call the agent. */
export async function vmAction(
  id: string,
  action: "start" | "stop" | "reboot" | "poweroff" | "retry",
  who: Caller,
  opts: { provision?: boolean } = {},
) {
  await requireVmAccess(who.actor, id, "vm:operate", { action: `vm.${action}`, clientIp: who.clientIp });
  await refuseWhileMoving(id);
  const vm = await db().vm.findUnique({ where: { id }, include: { host: true } });
  if (!vm) throw new AppError({ code: "not_found", message: `VM ${id} does not exist.` });
  if (action === "retry") return retryCreate(vm.id, who, opts);
  if (!ALLOWED[action]!.includes(vm.status))
    throw new AppError({ code: "conflict", message: `Cannot ${action} a VM that is ${vm.status}.` });
  if (!vm.host)
    throw new AppError({ code: "conflict", message: "This VM is not placed on a host; retry or delete it." });
  const task = await createTask({
    kind: `vm.${action}`,
    vmId: vm.id,
    hostId: vm.hostId,
    userId: who.actor.id,
    steps: [action],
  });
  await setStep(task.id, 0, "running");
  try {
    const status = await agentClient.action(vm.host, vm.id, action);
    await db().vm.update({
      where: { id },
      data: {
        status: vmStatusFromAgent(status.powerState),
        powerState: status.powerState,
        desiredState: action === "start" || action === "reboot" ? "running" : "stopped",
      },
    });
    await setStep(task.id, 0, "succeeded", `power state ${status.powerState}`);
    await finishTask(task.id, true);
    await recordAudit({
      actor: who.actor,
      action: `vm.${action}`,
      result: "success",
      targetType: "vm",
      targetId: id,
      clientIp: who.clientIp,
    });
  } catch (error) {
    const message = error instanceof AppError ? error.message : "The action failed on the host.";
    await setStep(task.id, 0, "failed", message);
    await finishTask(task.id, false, message);
    await recordAudit({
      actor: who.actor,
      action: `vm.${action}`,
      result: "error",
      targetType: "vm",
      targetId: id,
      clientIp: who.clientIp,
      details: { reason: message },
    });
    throw error;
  }
  return getVm(id);
}

const RETRY_TAKEN = "This VM is already being retried.";
const RETRY_LOST = Symbol("retry lost to another");

async function retryCreate(id: string, who: Caller, opts: { provision?: boolean }) {
  const vm = await db().vm.findUniqueOrThrow({ where: { id } });
  if (vm.status !== "error" || vm.hostId)
    throw new AppError({ code: "conflict", message: "Only a VM whose creation failed can be retried." });
  if (!vm.imageId) throw new AppError({ code: "conflict", message: "The VM's image was deleted; delete the VM." });
  const image = await loadImageFor({ imageId: vm.imageId, arch: vm.arch, memoryMb: vm.memoryMb, diskGb: vm.diskGb });
  const placed = await placeAndRecord(
    {
      arch: vm.arch as "x86_64" | "aarch64",
      vcpus: vm.vcpus,
      memoryMb: vm.memoryMb,
      diskGb: vm.diskGb,
      allowEmulation: vm.allowEmulation,
    },
    async (tx, p) => {
      // Claim the VM only if it is still a failed, unplaced create: of two retries at once exactly
      // one gets here first, so the reservation is taken once and one provisioning (one QEMU) starts.
      const claimed = await tx.vm.updateMany({
        where: { id, status: "error", hostId: null },
        data: { hostId: p.hostId, status: "creating", emulated: p.emulated, lastError: null },
      });
      if (claimed.count !== 1) {
        // The loser gives its host claim back in the same transaction, which then commits (net
        // zero) instead of throwing: on SQLite every request shares one connection, and a ROLLBACK
        // would also undo what other requests wrote meanwhile (such as the winner's audit row).
        await releaseHost(p.hostId, vm, tx);
        return RETRY_LOST;
      }
      const task = await createTask(
        { kind: "vm.create", vmId: id, hostId: p.hostId, userId: who.actor.id, steps: CREATE_STEPS },
        tx,
      );
      return task.id;
    },
  );
  if (placed.result === RETRY_LOST) throw new AppError({ code: "conflict", message: RETRY_TAKEN });
  const taskId = placed.result;
  await noteAndProvision(
    { vmId: id, taskId, hostName: placed.hostName, emulated: placed.emulated },
    {
      actor: who.actor,
      action: "vm.retry",
      result: "success",
      targetType: "vm",
      targetId: id,
      clientIp: who.clientIp,
      details: { image: image.name, host: placed.hostName },
    },
    opts.provision !== false,
  );
  return getVm(id);
}

export async function deleteVm(id: string, who: Caller) {
  await requireVmAccess(who.actor, id, "vm:operate", { action: "vm.delete", clientIp: who.clientIp });
  await refuseWhileMoving(id);
  const vm = await db().vm.findUnique({ where: { id }, include: { host: true } });
  if (!vm) throw new AppError({ code: "not_found", message: `VM ${id} does not exist.` });
  if (vm.status === "creating")
    throw new AppError({
      code: "conflict",
      message: "The VM is still being created; wait for it to finish or fail, then delete it.",
    });
  const task = await createTask({
    kind: "vm.delete",
    vmId: vm.id,
    hostId: vm.hostId,
    userId: who.actor.id,
    steps: ["remove from host", "release capacity"],
  });
  await db().vm.update({ where: { id }, data: { status: "deleting", desiredState: "deleted" } });
  try {
    await setStep(task.id, 0, "running");
    if (vm.host) await agentClient.deleteVm(vm.host, vm.id);
    await setStep(task.id, 0, "succeeded");
  } catch (error) {
    const message = error instanceof AppError ? error.message : "The host could not remove the VM.";
    await setStep(task.id, 0, "failed", message);
    await finishTask(task.id, false, message);
    await db().vm.update({ where: { id }, data: { status: "error", lastError: `Delete failed: ${message}` } });
    await recordAudit({
      actor: who.actor,
      action: "vm.delete",
      result: "error",
      targetType: "vm",
      targetId: id,
      clientIp: who.clientIp,
      details: { reason: message },
    });
    throw error;
  }
  await db().$transaction(async (tx) => {
    // The VM's snapshots go with it (rows cascade) and give their disk claims back (ADR 033).
    const snapshots = await tx.snapshot.aggregate({ where: { vmId: id }, _sum: { claimedDiskGb: true } });
    const snapshotGb = snapshots._sum.claimedDiskGb ?? 0;
    if (vm.hostId) await releaseHost(vm.hostId, { ...vm, diskGb: vm.diskGb + snapshotGb }, tx);
    await releaseNics(tx, id);
    await tx.vm.delete({ where: { id } });
  });
  await setStep(task.id, 1, "succeeded");
  await finishTask(task.id, true);
  await recordAudit({
    actor: who.actor,
    action: "vm.delete",
    result: "success",
    targetType: "vm",
    targetId: id,
    clientIp: who.clientIp,
    details: { name: vm.name },
  });
}
