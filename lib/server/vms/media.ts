import "server-only";
// The VM's CD drive (issue 13): insert an ISO, eject it. Every VM has one drive; an ISO install
// starts with its ISO in it (create.ts). The row changes first and the agent gets the new spec
// (live on a running VM); when the agent refuses, the row goes back to what it was.
import { AppError } from "../../errors";
import type { VmMediaDto } from "../../schemas/volumes";
import { agentClient } from "../hosts";
import { requireVisibleImage } from "../images";
import { db, recordAudit, type Caller } from "../platform";
import { requireVmAccess } from "./access";
import { refuseWhileMoving } from "./moving";
import { specFor } from "./spec";
import { createTask, finishTask, setStep } from "./tasks";

export async function mediaOf(vmId: string): Promise<VmMediaDto> {
  const vm = await db().vm.findUniqueOrThrow({
    where: { id: vmId },
    select: { id: true, mediaImage: { select: { id: true, name: true, arch: true } } },
  });
  return {
    vmId: vm.id,
    image: vm.mediaImage
      ? { id: vm.mediaImage.id, name: vm.mediaImage.name, arch: vm.mediaImage.arch as "x86_64" | "aarch64" }
      : null,
  };
}

/** GET /api/v1/vms/:id/media: whoever may read the VM. */
export async function getVmMedia(vmId: string, who: Caller) {
  await requireVmAccess(who.actor, vmId, "read", { action: "vm.media", clientIp: who.clientIp });
  return mediaOf(vmId);
}

/**
 * Puts an ISO in the drive (replacing what is there). The image must be an ISO the caller may see,
 * ready, and of the VM's architecture: ISOs carry arch-specific boot loaders and kernels.
 */
export async function insertMedia(vmId: string, imageId: string, who: Caller) {
  const attempt = { action: "vm.media.insert", clientIp: who.clientIp };
  await requireVmAccess(who.actor, vmId, "vm:operate", attempt);
  await refuseWhileMoving(vmId);
  const image = await requireVisibleImage(who.actor, imageId, attempt);
  const vm = await db().vm.findUniqueOrThrow({ where: { id: vmId } });
  if (image.format !== "iso")
    throw new AppError({
      code: "unprocessable",
      message: `Image ${image.name} is a ${image.format} image, not an ISO; only ISO images go in the CD drive.`,
    });
  if (image.status !== "ready")
    throw new AppError({ code: "conflict", message: `Image ${image.name} is ${image.status}, not ready.` });
  if (image.arch !== vm.arch)
    throw new AppError({
      code: "unprocessable",
      message: `Image ${image.name} is built for ${image.arch}; ${vm.name} is ${vm.arch}. Choose an ${vm.arch} ISO.`,
    });
  return changeMedia(vmId, image.id, who, "vm.media.insert", image.name);
}

export async function ejectMedia(vmId: string, who: Caller) {
  await requireVmAccess(who.actor, vmId, "vm:operate", { action: "vm.media.eject", clientIp: who.clientIp });
  await refuseWhileMoving(vmId);
  return changeMedia(vmId, null, who, "vm.media.eject", null);
}

async function changeMedia(
  vmId: string,
  imageId: string | null,
  who: Caller,
  action: string,
  imageName: string | null,
) {
  const vm = await db().vm.findUniqueOrThrow({ where: { id: vmId }, include: { host: true } });
  if (!vm.host || !["running", "stopped"].includes(vm.status))
    throw new AppError({
      code: "conflict",
      message: `The CD drive of ${vm.name} can change only while it is running or stopped; it is ${vm.status}.`,
    });
  if (vm.mediaImageId === imageId) return mediaOf(vmId);
  const previous = vm.mediaImageId;
  const task = await createTask({
    kind: action,
    vmId,
    hostId: vm.hostId,
    userId: who.actor.id,
    steps: [imageId ? "insert" : "eject"],
  });
  await setStep(task.id, 0, "running");
  // Conditional on what we read: two changes at once cannot both think they replaced the same medium.
  const taken = await db().vm.updateMany({
    where: { id: vmId, mediaImageId: previous },
    data: { mediaImageId: imageId },
  });
  try {
    if (taken.count !== 1)
      throw new AppError({ code: "conflict", message: `The CD drive of ${vm.name} changed meanwhile; try again.` });
    await agentClient.putVm(vm.host, vmId, await specFor(vmId));
  } catch (error) {
    const message = error instanceof AppError ? error.message : "The host could not change the CD drive.";
    if (taken.count === 1)
      await db().vm.updateMany({ where: { id: vmId, mediaImageId: imageId }, data: { mediaImageId: previous } });
    await setStep(task.id, 0, "failed", message);
    await finishTask(task.id, false, message);
    await recordAudit({
      actor: who.actor,
      action,
      result: "error",
      targetType: "vm",
      targetId: vmId,
      clientIp: who.clientIp,
      details: { reason: message, imageId },
    });
    throw error instanceof AppError ? error : new AppError({ code: "unavailable", message });
  }
  await setStep(task.id, 0, "succeeded", imageName ? `${imageName} in the CD drive` : "CD drive empty");
  await finishTask(task.id, true);
  await recordAudit({
    actor: who.actor,
    action,
    result: "success",
    targetType: "vm",
    targetId: vmId,
    clientIp: who.clientIp,
    details: { imageId, previous },
  });
  return mediaOf(vmId);
}
