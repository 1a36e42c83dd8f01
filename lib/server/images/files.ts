import "server-only";
// Serves image files to agents with HTTP Range support, so interrupted downloads resume.
import { createReadStream, statSync } from "node:fs";
import { resolve, sep } from "node:path";
import { Readable } from "node:stream";
import { AppError } from "../../errors";
import { db } from "../platform";
import { env } from "../platform";

export const IMAGE_FILES = ["disk", "kernel", "initrd"] as const;
export type ImageFile = (typeof IMAGE_FILES)[number];

export function imagesDir(): string {
  return resolve(env().dataDir, "images");
}

/** Resolves a stored path and refuses anything outside the image store. */
export function insideImageStore(path: string): string {
  const full = resolve(imagesDir(), path);
  if (!full.startsWith(imagesDir() + sep))
    throw new AppError({ code: "invalid", message: "Image path is outside the image store." });
  return full;
}

export async function imageFileResponse(imageId: string, file: string, rangeHeader: string | null): Promise<Response> {
  if (!(IMAGE_FILES as readonly string[]).includes(file))
    throw new AppError({ code: "invalid", message: `file must be one of: ${IMAGE_FILES.join(", ")}` });
  const image = await db().image.findUnique({ where: { id: imageId } });
  if (!image || image.status !== "ready")
    throw new AppError({ code: "not_found", message: `Image ${imageId} is not available.` });
  const rel = file === "disk" ? image.path : file === "kernel" ? image.kernelPath : image.initrdPath;
  if (!rel) throw new AppError({ code: "not_found", message: `Image ${imageId} has no ${file} file.` });
  const path = insideImageStore(rel);
  const size = statSync(path).size;
  let start = 0;
  let end = size - 1;
  let status = 200;
  if (rangeHeader) {
    const m = /^bytes=(\d+)-(\d*)$/.exec(rangeHeader.trim());
    if (!m)
      throw new AppError({ code: "invalid", message: "Only a single `bytes=N-` or `bytes=N-M` range is supported." });
    start = Number(m[1]);
    end = m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
    if (start >= size || start > end)
      return new Response(null, { status: 416, headers: { "content-range": `bytes */${size}` } });
    status = 206;
  }
  const stream = Readable.toWeb(createReadStream(path, { start, end })) as ReadableStream;
  const headers: Record<string, string> = {
    "content-type": "application/octet-stream",
    "content-length": String(end - start + 1),
    "accept-ranges": "bytes",
  };
  if (status === 206) headers["content-range"] = `bytes ${start}-${end}/${size}`;
  const sha = file === "initrd" ? image.initrdSha256 : image.sha256;
  if (sha) headers["x-polyarch-sha256"] = sha;
  return new Response(stream, { status, headers });
}
