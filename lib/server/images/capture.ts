import "server-only";
// Capture to image (issue 13, ADR 033): a VM's disk, streamed from its agent as one standalone
// qcow2, becomes an image like any upload — the same store, the same hashing sink, free-space and
// quota checks while bytes arrive, the same family-slot rule and the same validation (qemu-img,
// arch evidence). The caller (lib/server/snapshots) checks the VM and hands over a `fill` that
// writes the agent's stream into the sink. On any failure nothing remains: no file, no row.
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Arch } from "../../arch";
import { AppError } from "../../errors";
import { MAX_IMAGE_BYTES } from "../../schemas/images";
import { activeControllerId, db, logError, type Caller } from "../platform";
import { getImage } from "./catalog";
import { imagesDir } from "./files";
import { inspectImage } from "./inspect-disk";
import { hashingFileSink, type FileSink, type ReceivedFile, type StoredImageDto } from "./upload";
import { checkFreeSpace, checkProjectQuota, claimUploadSlot } from "./upload-limits";
import { activeUploads as active } from "./upload-sweep";
import { familyTakenFor } from "./visibility";

const GiB = 1024 ** 3;

export interface CaptureTarget {
  name: string;
  family?: string;
  /** the VM's arch: the image's, unless the bytes prove otherwise (then validation refuses it) */
  arch: Arch;
  /** the VM's project; the image is visible to its members (visibility "project") */
  projectId: string | null;
}

/** Writes the captured qcow2 into the sink; `contentLength` is what the agent announced. */
export type CaptureFill = (write: (chunk: Buffer, contentLength: number | null) => Promise<void>) => Promise<void>;

const conflict = (message: string) => new AppError({ code: "conflict", message });
const isUnique = (e: unknown) => (e as { code?: unknown } | null)?.code === "P2002";

async function familyHolder(family: string, arch: string, exceptId?: string) {
  return db().image.findFirst({
    where: { family, arch, ...(exceptId ? { NOT: { id: exceptId } } : {}) },
    select: { name: true, visibility: true, projectId: true, ownerId: true },
  });
}

async function familyConflict(who: Caller, family: string, arch: string, exceptId?: string): Promise<AppError> {
  return conflict(await familyTakenFor(who.actor, family, arch, await familyHolder(family, arch, exceptId)));
}

/** A captured disk in the store, received but not yet validated (its row is "uploading"). */
export interface ReceivedCapture {
  id: string;
  target: CaptureTarget;
  disk: ReceivedFile;
}

async function discardCapture(id: string): Promise<void> {
  active.delete(id);
  try {
    await rm(join(/* turbopackIgnore: true */ imagesDir(), id), { recursive: true, force: true });
    await db().image.deleteMany({ where: { id } });
  } catch (e) {
    // Leftovers are swept at the next start (sweepInterruptedUploads); the caller still gets the real error.
    logError("captured image cleanup failed", e, { id });
  }
}

/**
 * Step 1: reserves the image row (and the family slot) and stores the bytes `fill` writes, with
 * free-space and quota checks before the first byte and while they arrive. Throws, leaving nothing
 * behind, when any of it fails; on success hand the result to validateCapturedDisk.
 */
export async function receiveCapturedDisk(
  target: CaptureTarget,
  who: Caller,
  fill: CaptureFill,
): Promise<ReceivedCapture> {
  await checkFreeSpace(imagesDir(), 0);
  if (target.family && (await familyHolder(target.family, target.arch)))
    throw await familyConflict(who, target.family, target.arch);
  let id: string | null = null;
  let sink: FileSink | null = null;
  try {
    try {
      id = (
        await db().image.create({
          data: {
            name: target.name,
            format: "qcow2",
            status: "uploading",
            visibility: "project",
            projectId: target.projectId,
            ownerId: who.actor.id,
            uploadControllerId: activeControllerId(),
            arch: target.arch,
            family: target.family ?? null,
          },
        })
      ).id;
    } catch (e) {
      if (isUnique(e) && target.family) throw await familyConflict(who, target.family, target.arch);
      throw e;
    }
    active.add(id);
    await claimUploadSlot(who.actor.id, id, (other) => active.has(other));
    const dir = join(/* turbopackIgnore: true */ imagesDir(), id);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const imageId = id;
    const recheck = async (bytes: number) => {
      await checkFreeSpace(imagesDir(), 0, true);
      await checkProjectQuota(target.projectId, bytes, imageId);
    };
    sink = hashingFileSink(join(dir, "disk"), MAX_IMAGE_BYTES, "captured disk", recheck);
    const file = sink;
    let admitted = false;
    await fill(async (chunk, contentLength) => {
      if (!admitted) {
        // Before the first byte is stored: does the whole announced size fit the store and the quota?
        admitted = true;
        if (contentLength !== null) {
          if (contentLength > MAX_IMAGE_BYTES)
            throw new AppError({
              code: "too_large",
              message: `The captured disk (${+(contentLength / GiB).toFixed(1)} GiB) is larger than the image limit.`,
            });
          await checkFreeSpace(imagesDir(), contentLength);
          await checkProjectQuota(target.projectId, contentLength, imageId);
        }
      }
      await file.write(chunk);
    });
    await sink.end();
    const disk = sink.result();
    if (disk.bytes === 0) throw new AppError({ code: "unprocessable", message: "The host sent an empty disk." });
    return { id, target, disk };
  } catch (error) {
    await sink?.abort();
    if (id) await discardCapture(id);
    throw error;
  }
}

/**
 * Step 2: validates the stored qcow2 like an uploaded one (inspectImage: format, qemu-img check,
 * arch evidence against the VM's arch) and makes the image ready; removes it when refused.
 */
export async function validateCapturedDisk(received: ReceivedCapture, who: Caller): Promise<StoredImageDto> {
  const { id, target, disk } = received;
  try {
    await checkProjectQuota(target.projectId, disk.bytes, id);
    await db().image.update({ where: { id }, data: { status: "validating" } });
    const found = await inspectImage(disk.path, { format: "qcow2", arch: target.arch });
    try {
      await db().image.update({
        where: { id },
        data: {
          status: "ready",
          path: `${id}/disk`,
          sha256: disk.sha256,
          sizeBytes: BigInt(disk.bytes),
          virtualSize: BigInt(found.virtualSize),
          minDiskGb: Math.max(1, Math.ceil(found.virtualSize / GiB)),
          firmware: found.firmware,
          arch: found.arch,
          detectedArch: found.detectedArch,
          error: null,
        },
      });
    } catch (e) {
      if (isUnique(e) && target.family) throw await familyConflict(who, target.family, found.arch, id);
      if ((e as { code?: unknown } | null)?.code === "P2025")
        throw conflict("The image was deleted while it was being validated.");
      throw e;
    }
    active.delete(id);
    return { ...(await getImage(id)), detectedArch: found.detectedArch, warnings: found.warnings };
  } catch (error) {
    await discardCapture(id);
    throw error;
  }
}
