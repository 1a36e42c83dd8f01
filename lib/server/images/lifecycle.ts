import "server-only";
import type { Caller } from "../platform";
// Rename / re-family / visibility and delete of stored images, all audited; only the image's owner
// or an admin may (visibility.ts). Uploads and imports live in upload.ts.
import { rm } from "node:fs/promises";
import { AppError } from "../../errors";
import type { ImagePatch } from "../../schemas/images";
import { recordAudit } from "../platform";
import { db } from "../platform";
import { insideImageStore } from "./files";
import { isUploadActive } from "./upload";
import { getImage, type ImageDto } from "./catalog";
import { logError } from "../platform";
import { familyTakenFor, imageNotFound as notFound, requireImageOwner } from "./visibility";

export async function updateImage(id: string, patch: ImagePatch, who: Caller): Promise<ImageDto> {
  const before = await requireImageOwner(who.actor, id, { action: "image.update", clientIp: who.clientIp });
  // As for uploads (upload-limits.ts): publishing to everyone is an admin's call.
  if (patch.visibility === "public" && before.visibility !== "public" && who.actor.role !== "admin")
    throw new AppError({
      code: "forbidden",
      message: "Only admins may make an image public; choose project (members of the project) or private (only you).",
    });
  if (patch.family && before.status !== "ready")
    throw new AppError({
      code: "conflict",
      message: `Image ${before.name} is ${before.status}; set its family once it is ready.`,
    });
  const data = {
    ...(patch.name !== undefined ? { name: patch.name } : {}),
    ...(patch.family !== undefined ? { family: patch.family } : {}),
    ...(patch.visibility !== undefined ? { visibility: patch.visibility } : {}),
  };
  try {
    await db().image.update({ where: { id }, data });
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (code === "P2002" && patch.family) {
      const taken = await db().image.findFirst({
        where: { family: patch.family, arch: before.arch, NOT: { id } },
        select: { name: true, visibility: true, projectId: true, ownerId: true },
      });
      throw new AppError({
        code: "conflict",
        message: await familyTakenFor(who.actor, patch.family, before.arch, taken),
      });
    }
    if (code === "P2025") throw notFound(id);
    throw e;
  }
  const changes = Object.fromEntries(
    Object.keys(data).map((k) => [k, { from: before[k as keyof typeof data], to: data[k as keyof typeof data] }]),
  );
  await recordAudit({
    actor: who.actor,
    action: "image.update",
    result: "success",
    targetType: "image",
    targetId: id,
    clientIp: who.clientIp,
    details: { name: before.name, changes },
  });
  return getImage(id);
}

/** Deletes an image and its files. Refused while any VM references it, or while its upload is running. */
export async function deleteImage(id: string, who: Caller): Promise<{ id: string; deleted: true }> {
  await requireImageOwner(who.actor, id, { action: "image.delete", clientIp: who.clientIp });
  const image = await db().image.findUnique({ where: { id }, include: { _count: { select: { vms: true } } } });
  if (!image) throw notFound(id);
  if (isUploadActive(id))
    throw new AppError({
      code: "conflict",
      message: `Image ${image.name} is still ${image.status}; cancel the upload instead (its files are removed then).`,
    });
  const inUse = (n: number) =>
    new AppError({
      code: "conflict",
      message: `Image ${image.name} is used by ${n} VM${n === 1 ? "" : "s"}; delete ${n === 1 ? "it" : "them"} first.`,
    });
  if (image._count.vms > 0) throw inUse(image._count.vms);
  // One statement, so a VM created between the check above and here still blocks the delete.
  const { count } = await db().image.deleteMany({ where: { id, vms: { none: {} } } });
  if (count === 0) {
    const vms = await db().vm.count({ where: { imageId: id } });
    if (vms > 0) throw inUse(vms);
    throw notFound(id);
  }
  try {
    await rm(insideImageStore(id), { recursive: true, force: true });
  } catch (e) {
    // The row is gone; an orphaned directory is removed by the start-up sweep.
    logError("image files not removed", e, { id });
  }
  await recordAudit({
    actor: who.actor,
    action: "image.delete",
    result: "success",
    targetType: "image",
    targetId: id,
    clientIp: who.clientIp,
    details: { name: image.name, arch: image.arch, family: image.family, sha256: image.sha256 },
  });
  return { id, deleted: true };
}
