import "server-only";
// Creating, growing and deleting data volumes. A placed volume's sizeGb counts in its host's
// allocatedDiskGb from create to delete: claimed atomically with the row (claimHostDelta, the
// placement pattern), given back when the agent refuses and when the volume is deleted.
import { AppError } from "../../errors";
import type { CreateVolumeInput } from "../../schemas/volumes";
import { agentClient } from "../hosts";
import { requireVisibleImage } from "../images";
import { db, recordAudit, type Caller } from "../platform";
import {
  claimHostDelta,
  createTask,
  finishTask,
  projectForNewVm,
  releaseHostDelta,
  requireVmAccess,
  setStep,
  whyNoRoom,
} from "../vms";
import { attachWithTask } from "./attach";
import { getVolume, requireVolumeAccess } from "./queries";
import { checkVolumeSource, volumeSourceFor } from "./source";

const disk = (gb: number) => ({ vcpus: 0, memoryMb: 0, diskGb: gb });

/**
 * A volume left in a transitional state (creating, attaching, …) longer than the longest agent
 * call (15 min) was abandoned by a controller that stopped mid-operation: it may be deleted, so
 * its file and its claim do not leak (the agent's DELETE answers 404 when there is no file).
 */
const STUCK_AFTER_MS = 20 * 60_000;
const isStuck = (updatedAt: Date) => Date.now() - updatedAt.getTime() > STUCK_AFTER_MS;

async function audit(
  who: Caller,
  action: string,
  volumeId: string | null,
  result: "success" | "error",
  details: Record<string, unknown>,
) {
  await recordAudit({
    actor: who.actor,
    action,
    result,
    targetType: "volume",
    targetId: volumeId,
    clientIp: who.clientIp,
    details,
  });
}

/** Where a new volume goes: the VM's host and project, a named host, or nowhere yet. */
async function placementFor(input: CreateVolumeInput, who: Caller) {
  const attempt = { action: "volume.create", clientIp: who.clientIp };
  if (input.vmId) {
    await requireVmAccess(who.actor, input.vmId, "vm:operate", attempt);
    const vm = await db().vm.findUniqueOrThrow({ where: { id: input.vmId }, include: { host: true } });
    if (!vm.host || !["running", "stopped"].includes(vm.status))
      throw new AppError({
        code: "conflict",
        message: `Volumes attach only to a running or stopped VM; ${vm.name} is ${vm.status}.`,
      });
    if (input.projectId && input.projectId !== (vm.projectId ?? input.projectId))
      throw new AppError({
        code: "conflict",
        message: `A volume made for ${vm.name} goes into the VM's project; leave projectId out.`,
      });
    return { projectId: vm.projectId, host: vm.host, vmId: vm.id };
  }
  const projectId = await projectForNewVm(who.actor, input.projectId, attempt);
  if (!input.hostId) return { projectId, host: null, vmId: null };
  const host = await db().host.findUnique({ where: { id: input.hostId } });
  if (!host || host.approval !== "approved")
    throw new AppError({ code: "not_found", message: `Host ${input.hostId} does not exist.` });
  return { projectId, host, vmId: null };
}

/**
 * POST /api/v1/volumes. The row and the host's claim are written together (409 with the reason
 * when the host lacks the room); then the agent makes the file, then — with vmId — it is attached.
 * Any failure removes what this create did: the file, the claim and the row.
 */
export async function createVolume(input: CreateVolumeInput, who: Caller) {
  let where: Awaited<ReturnType<typeof placementFor>>;
  try {
    where = await placementFor(input, who);
    if (input.imageId) {
      const image = await requireVisibleImage(who.actor, input.imageId, {
        action: "volume.create",
        clientIp: who.clientIp,
      });
      checkVolumeSource(image, input.sizeGb);
    }
  } catch (error) {
    if (error instanceof AppError)
      await audit(who, "volume.create", null, "error", { name: input.name, reason: error.message });
    throw error;
  }
  const { host, vmId, projectId } = where;
  const steps = host
    ? [
        "claim capacity",
        "create on host",
        ...(vmId ? ["check", "claim capacity (attach)", "create (attach)", "attach"] : []),
      ]
    : ["record"];
  const task = await createTask({
    kind: "volume.create",
    vmId: vmId ?? undefined,
    hostId: host?.id,
    userId: who.actor.id,
    steps,
  });
  const fail = async (step: number, error: AppError) => {
    await setStep(task.id, step, "failed", error.message);
    await finishTask(task.id, false, error.message);
    await audit(who, "volume.create", null, "error", { name: input.name, reason: error.message });
    return error;
  };
  const data = {
    name: input.name,
    sizeGb: input.sizeGb,
    imageId: input.imageId ?? null,
    projectId,
    ownerId: who.actor.id,
  };
  if (!host) {
    const row = await db().volume.create({ data: { ...data, hostId: null, status: "available" } });
    await setStep(task.id, 0, "succeeded", "unplaced: it goes to the host of the first VM it is attached to");
    await finishTask(task.id, true);
    await audit(who, "volume.create", row.id, "success", { name: row.name, sizeGb: row.sizeGb, host: null });
    return getVolume(row.id);
  }

  await setStep(task.id, 0, "running");
  const row = await db().$transaction(async (tx) => {
    if (!(await claimHostDelta(tx, host.id, disk(input.sizeGb)))) return null;
    return tx.volume.create({ data: { ...data, hostId: host.id, status: "creating" } });
  });
  if (!row)
    throw await fail(
      0,
      new AppError({
        code: "conflict",
        message: await whyNoRoom(host.id, disk(input.sizeGb), `A ${input.sizeGb} GiB volume`),
      }),
    );
  await setStep(task.id, 0, "succeeded", `${input.sizeGb} GiB on ${host.name}`);

  /** Nothing of this create stays: the row and the claim together. */
  const removeRow = () =>
    db().$transaction(async (tx) => {
      const gone = await tx.volume.deleteMany({ where: { id: row.id } });
      if (gone.count === 1) await releaseHostDelta(tx, host.id, disk(input.sizeGb));
    });
  await setStep(task.id, 1, "running");
  try {
    const source = await volumeSourceFor(row.imageId);
    await agentClient.putVolume(host, row.id, { sizeGb: row.sizeGb, ...(source ? { source } : {}) });
  } catch (error) {
    await removeRow();
    // The agent may have made (part of) the file before failing: ask it to drop it (best effort).
    await agentClient.deleteVolume(host, row.id).catch(() => undefined);
    throw await fail(
      1,
      error instanceof AppError
        ? error
        : new AppError({ code: "unavailable", message: "The host could not create the volume." }),
    );
  }
  await db().volume.update({ where: { id: row.id }, data: { status: "available" } });
  await setStep(task.id, 1, "succeeded");
  if (vmId) {
    try {
      await attachWithTask(vmId, row.id, who, task.id, 2);
    } catch (error) {
      // Create-and-attach is one request: when the attach fails, the volume goes too.
      await agentClient.deleteVolume(host, row.id).catch(() => undefined);
      await removeRow();
      await audit(who, "volume.create", null, "error", {
        name: input.name,
        reason: error instanceof Error ? error.message : String(error),
      });
      throw error;
    }
  }
  await finishTask(task.id, true);
  await audit(who, "volume.create", row.id, "success", {
    name: row.name,
    sizeGb: row.sizeGb,
    host: host.name,
    vmId,
  });
  return getVolume(row.id);
}

/**
 * PATCH /api/v1/volumes/:id {sizeGb}: volumes only grow (409 for a smaller size). The difference is
 * claimed on the host first (409 with the reason when it does not fit); the agent grows the file,
 * online (block_resize) when a running VM has it attached.
 */
export async function growVolume(id: string, sizeGb: number, who: Caller) {
  const volume = await requireVolumeAccess(who.actor, id, "vm:operate", {
    action: "volume.grow",
    clientIp: who.clientIp,
  });
  const refuse = async (message: string) => {
    await audit(who, "volume.grow", id, "error", { reason: message, sizeGb });
    return new AppError({ code: "conflict", message });
  };
  if (sizeGb < volume.sizeGb)
    throw await refuse(`Volumes only grow: ${volume.name} has ${volume.sizeGb} GiB, ${sizeGb} GiB would shrink it.`);
  if (sizeGb === volume.sizeGb) return getVolume(id);
  const status = volume.status === "in-use" && !volume.vmId ? "available" : volume.status;
  if (status !== "available" && status !== "in-use")
    throw await refuse(`Volume ${volume.name} is ${volume.status}; try again when it is available or in use.`);
  const host = volume.hostId ? await db().host.findUnique({ where: { id: volume.hostId } }) : null;
  const delta = disk(sizeGb - volume.sizeGb);
  const task = await createTask({
    kind: "volume.grow",
    vmId: volume.vmId ?? undefined,
    hostId: host?.id,
    userId: who.actor.id,
    steps: ["claim capacity", "grow on host"],
  });
  if (!host) {
    // Unplaced: no file and no claim yet; the first attach claims the new size.
    const changed = await db().volume.updateMany({
      where: { id, sizeGb: volume.sizeGb, hostId: null },
      data: { sizeGb },
    });
    if (changed.count !== 1) {
      const message = `Volume ${volume.name} changed meanwhile; try again.`;
      await setStep(task.id, 0, "failed", message);
      await finishTask(task.id, false, message);
      throw await refuse(message);
    }
    await setStep(task.id, 0, "skipped", "unplaced: nothing claimed yet");
    await setStep(task.id, 1, "skipped", "no file yet");
    await finishTask(task.id, true);
    await audit(who, "volume.grow", id, "success", { from: volume.sizeGb, to: sizeGb });
    return getVolume(id);
  }
  await setStep(task.id, 0, "running");
  const outcome = await db().$transaction(async (tx) => {
    if (!(await claimHostDelta(tx, host.id, delta))) return "no-room" as const;
    const taken = await tx.volume.updateMany({
      where: { id, sizeGb: volume.sizeGb, status: volume.status },
      data: { sizeGb, status: "resizing", lastError: null },
    });
    if (taken.count !== 1) {
      await releaseHostDelta(tx, host.id, delta);
      return "raced" as const;
    }
    return "claimed" as const;
  });
  if (outcome !== "claimed") {
    const message =
      outcome === "no-room"
        ? await whyNoRoom(host.id, delta, `Growing volume ${volume.name} to ${sizeGb} GiB`)
        : `Volume ${volume.name} changed meanwhile; try again.`;
    await setStep(task.id, 0, "failed", message);
    await finishTask(task.id, false, message);
    throw await refuse(message);
  }
  await setStep(task.id, 0, "succeeded", `+${delta.diskGb} GiB on ${host.name}`);
  await setStep(task.id, 1, "running");
  try {
    await agentClient.putVolume(host, id, { sizeGb });
  } catch (error) {
    const message = error instanceof AppError ? error.message : "The host could not grow the volume.";
    await db().$transaction(async (tx) => {
      const back = await tx.volume.updateMany({
        where: { id, sizeGb, status: "resizing" },
        data: { sizeGb: volume.sizeGb, status: volume.status },
      });
      if (back.count === 1) await releaseHostDelta(tx, host.id, delta);
    });
    await setStep(task.id, 1, "failed", message);
    await finishTask(task.id, false, message);
    await audit(who, "volume.grow", id, "error", { reason: message, sizeGb });
    throw error instanceof AppError ? error : new AppError({ code: "unavailable", message });
  }
  await db().volume.updateMany({ where: { id, status: "resizing" }, data: { status: volume.status } });
  await setStep(task.id, 1, "succeeded", volume.vmId ? `${sizeGb} GiB (online)` : `${sizeGb} GiB`);
  await finishTask(task.id, true);
  await audit(who, "volume.grow", id, "success", { from: volume.sizeGb, to: sizeGb, host: host.name });
  return getVolume(id);
}

/**
 * DELETE /api/v1/volumes/:id — refused while attached (409). The agent removes the file, then the
 * row goes and the host's claim is given back; when the agent refuses, the volume is marked
 * error with the reason and keeps its claim (its file may still be there; delete again).
 */
export async function deleteVolume(id: string, who: Caller) {
  const volume = await requireVolumeAccess(who.actor, id, "vm:operate", {
    action: "volume.delete",
    clientIp: who.clientIp,
  });
  const attachedTo = volume.vmId
    ? await db().vm.findUnique({ where: { id: volume.vmId }, select: { name: true } })
    : null;
  if (attachedTo) {
    const message = `Volume ${volume.name} is attached to ${attachedTo.name}; detach it first.`;
    await audit(who, "volume.delete", id, "error", { reason: message });
    throw new AppError({ code: "conflict", message });
  }
  if (!["available", "in-use", "error"].includes(volume.status) && !isStuck(volume.updatedAt)) {
    const message = `Volume ${volume.name} is ${volume.status}; try again when it is available.`;
    await audit(who, "volume.delete", id, "error", { reason: message });
    throw new AppError({ code: "conflict", message });
  }
  const host = volume.hostId ? await db().host.findUnique({ where: { id: volume.hostId } }) : null;
  const task = await createTask({
    kind: "volume.delete",
    hostId: host?.id,
    userId: who.actor.id,
    steps: ["remove from host", "release capacity"],
  });
  const taken = await db().volume.updateMany({
    where: { id, status: volume.status, vmId: volume.vmId },
    data: { status: "deleting" },
  });
  if (taken.count !== 1) {
    const message = `Volume ${volume.name} changed meanwhile; try again.`;
    await setStep(task.id, 0, "failed", message);
    await finishTask(task.id, false, message);
    throw new AppError({ code: "conflict", message });
  }
  await setStep(task.id, 0, "running");
  try {
    if (host) await agentClient.deleteVolume(host, id);
  } catch (error) {
    const message = error instanceof AppError ? error.message : "The host could not remove the volume.";
    await db().volume.update({ where: { id }, data: { status: "error", lastError: `Delete failed: ${message}` } });
    await setStep(task.id, 0, "failed", message);
    await finishTask(task.id, false, message);
    await audit(who, "volume.delete", id, "error", { reason: message });
    throw error instanceof AppError ? error : new AppError({ code: "unavailable", message });
  }
  await setStep(task.id, 0, host ? "succeeded" : "skipped", host ? undefined : "unplaced: no file");
  await db().$transaction(async (tx) => {
    const gone = await tx.volume.deleteMany({ where: { id, status: "deleting" } });
    if (gone.count === 1 && volume.hostId) await releaseHostDelta(tx, volume.hostId, disk(volume.sizeGb));
  });
  await setStep(task.id, 1, "succeeded", host ? `${volume.sizeGb} GiB on ${host.name}` : undefined);
  await finishTask(task.id, true);
  await audit(who, "volume.delete", id, "success", { name: volume.name, sizeGb: volume.sizeGb });
  return { id, deleted: true as const };
}
