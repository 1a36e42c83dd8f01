import "server-only";
// The image a volume starts with: a qcow2 or raw disk image (copied by the agent, never a backing
// file). Volumes are architecture-neutral data, so any arch's image will do.
import { AppError } from "../../errors";
import type { VolumeSpec } from "../../schemas/agent-api";
import { db } from "../platform";

const GiB = 1024 ** 3;

/** Checks an image as a volume's source for a volume of `sizeGb` (the caller checked visibility). */
export function checkVolumeSource(
  image: { name: string; format: string; status: string; virtualSize: bigint | null },
  sizeGb: number,
) {
  if (image.format !== "qcow2" && image.format !== "raw")
    throw new AppError({
      code: "unprocessable",
      message: `Image ${image.name} is ${image.format === "iso" ? "an ISO" : `a ${image.format} image`}; a volume starts from a qcow2 or raw disk image.`,
    });
  if (image.status !== "ready")
    throw new AppError({ code: "conflict", message: `Image ${image.name} is ${image.status}, not ready.` });
  const needGb = image.virtualSize ? Math.ceil(Number(image.virtualSize) / GiB) : 0;
  if (needGb > sizeGb)
    throw new AppError({
      code: "unprocessable",
      message: `Image ${image.name} holds a ${needGb} GiB disk; the volume must be at least ${needGb} GiB.`,
    });
}

/** The agent's `source` for a volume made from `imageId` (undefined: blank). */
export async function volumeSourceFor(imageId: string | null): Promise<VolumeSpec["source"]> {
  if (!imageId) return undefined;
  const image = await db().image.findUnique({ where: { id: imageId } });
  if (!image) throw new AppError({ code: "conflict", message: "The volume's source image was deleted." });
  return {
    imageId: image.id,
    format: image.format === "raw" ? "raw" : "qcow2",
    ...(image.sha256 ? { sha256: image.sha256 } : {}),
  };
}
