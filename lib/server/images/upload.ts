import "server-only";
import type { Caller } from "../platform";
// Receives images into the store: a streamed multipart upload from the browser/API, or an admin
// import of a file already on the controller. Bytes go straight to disk while sha256 is computed
// on the way; then the same validation (qemu-img, kernel headers, UEFI loaders) decides. The DB
// row exists from the first file byte (status uploading → validating → ready) so lists show
// progress; on any failure the files and the row are removed: nothing of a refused image remains.
import { createHash } from "node:crypto";
import { once } from "node:events";
import { constants as fsConstants, createWriteStream, type WriteStream } from "node:fs";
import { mkdir, open, realpath, rm, statfs } from "node:fs/promises";
import { dirname, join } from "node:path";
import { finished } from "node:stream/promises";
import { ARCHES, type Arch } from "../../arch";
import { AppError } from "../../errors";
import {
  MAX_IMAGE_BYTES,
  MAX_INITRD_BYTES,
  MAX_KERNEL_BYTES,
  UPLOAD_FILE_PARTS,
  UPLOAD_TEXT_FIELDS,
  uploadFieldsSchema,
  type ImportImageInput,
  type UploadFields,
  type UploadFilePart,
} from "../../schemas/images";
import { recordAudit } from "../platform";
import { activeControllerId, isUniqueViolation } from "../platform";
import { db } from "../platform";
import { demoCmdline } from "./demo";
import { parseOrThrow } from "../platform";
import { imagesDir } from "./files";
import { inspectImage } from "./inspect-disk";
import { inspectKernelImage } from "./inspect-kernel";
import { getImage, type ImageDto } from "./catalog";
import { familyTakenFor } from "./visibility";
import { logError, logInfo } from "../platform";
import { multipartBoundary, parseMultipart, type PartSink } from "./multipart";
import { activeUploads as active } from "./upload-sweep";
import {
  checkFreeSpace,
  checkProjectQuota,
  claimUploadSlot,
  RECHECK_EVERY_BYTES,
  resolveUploadTarget,
  type UploadTarget,
} from "./upload-limits";

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

const MAX_FIELD_BYTES = 4 * KiB;
/** Room for part headers and boundaries on top of the file bytes. */
const MULTIPART_SLACK = 64 * KiB;
const MAX_BODY_BYTES = Math.max(MAX_IMAGE_BYTES, MAX_KERNEL_BYTES + MAX_INITRD_BYTES) + MULTIPART_SLACK;
/** After an early refusal, read up to this much more of the body so browsers get to see the answer. */
const DRAIN_ON_ERROR_BYTES = 256 * MiB;
/** Shown while the architecture is not known yet (undeclared, detection pending). Never on a ready image. */
export const PENDING_ARCH = "unknown";

const STORED_NAME: Record<UploadFilePart, string> = { file: "disk", kernel: "kernel", initrd: "initrd" };
const LIMIT: Record<UploadFilePart, number> = {
  file: MAX_IMAGE_BYTES,
  kernel: MAX_KERNEL_BYTES,
  initrd: MAX_INITRD_BYTES,
};

export { MAX_IMAGE_BYTES, MAX_INITRD_BYTES, MAX_KERNEL_BYTES };

/** What an upload/import answers: the image, plus what the bytes said (arch evidence, warnings). */
export type StoredImageDto = ImageDto & { detectedArch: Arch | null; warnings: string[] };

export { isUploadActive, sweepInterruptedUploads } from "./upload-sweep";

const invalid = (message: string) => new AppError({ code: "invalid", message });
const conflict = (message: string) => new AppError({ code: "conflict", message });

function fmt(bytes: number): string {
  return bytes >= GiB ? `${+(bytes / GiB).toFixed(1)} GiB` : `${+(bytes / MiB).toFixed(1)} MiB`;
}

function tooLarge(what: string, max: number): AppError {
  return new AppError({ code: "too_large", message: `The ${what} is larger than the ${fmt(max)} limit.` });
}

// ---------------------------------------------------------------------------------------------
// Sinks

export interface ReceivedFile {
  path: string;
  bytes: number;
  sha256: string;
}

export interface FileSink extends PartSink {
  abort(): Promise<void>;
  result(): ReceivedFile;
}

/** A full disk (ENOSPC/EDQUOT) is a 507 that says how much is free and how far the upload got. */
async function storeError(e: Error, path: string, bytes: number): Promise<AppError | Error> {
  const code = (e as NodeJS.ErrnoException).code;
  if (code !== "ENOSPC" && code !== "EDQUOT") return e;
  const st = await statfs(dirname(path)).catch(() => null);
  const free = st ? fmt(Number(st.bavail) * Number(st.bsize)) : "no space";
  return new AppError({
    code: "insufficient_storage",
    message:
      `The controller's image store is full (${free} free); the upload was stopped after ${fmt(bytes)}. ` +
      "Delete unused images or ask an admin to free space, then upload again.",
  });
}

/**
 * Writes a file with sha256 on the way, refusing more than `maxBytes`. The 4 MiB write buffer lets
 * the next network chunk arrive while the disk writes, and bounds memory per upload. `recheck`
 * (free space, quota) runs every RECHECK_EVERY_BYTES with the bytes of this file so far.
 */
export function hashingFileSink(
  path: string,
  maxBytes: number,
  what: string,
  recheck?: (bytes: number) => Promise<void>,
): FileSink {
  const out: WriteStream = createWriteStream(path, { flags: "wx", mode: 0o600, highWaterMark: 4 * MiB });
  const hash = createHash("sha256");
  let bytes = 0;
  let failure: Error | null = null;
  let digest: string | null = null;
  let nextCheck = RECHECK_EVERY_BYTES;
  out.on("error", (e) => (failure ??= e));
  return {
    async write(chunk) {
      if (failure) throw await storeError(failure, path, bytes);
      bytes += chunk.length;
      if (bytes > maxBytes) throw tooLarge(what, maxBytes);
      if (recheck && bytes >= nextCheck) {
        nextCheck = bytes + RECHECK_EVERY_BYTES;
        await recheck(bytes);
      }
      hash.update(chunk);
      if (!out.write(chunk))
        await once(out, "drain").catch(async (e: Error) => Promise.reject(await storeError(e, path, bytes)));
    },
    async end() {
      out.end();
      await finished(out).catch(async (e: Error) => Promise.reject(await storeError(e, path, bytes)));
      digest = hash.digest("hex");
    },
    async abort() {
      if (out.closed) return;
      const closed = once(out, "close").catch(() => {});
      out.destroy();
      await closed;
    },
    result() {
      if (digest === null) throw new Error(`${what} was not completely written`);
      return { path, bytes, sha256: digest };
    },
  };
}

function textSink(name: string, onValue: (value: string) => void): PartSink {
  const chunks: Buffer[] = [];
  let size = 0;
  return {
    write(chunk) {
      size += chunk.length;
      if (size > MAX_FIELD_BYTES) throw invalid(`The form field "${name}" is longer than ${MAX_FIELD_BYTES} bytes.`);
      chunks.push(Buffer.from(chunk));
    },
    end() {
      onValue(Buffer.concat(chunks).toString("utf8"));
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Shared steps

type Received = Partial<Record<UploadFilePart, FileSink>>;

function allowedParts(format: UploadFields["format"]): UploadFilePart[] {
  return format === "kernel" ? ["kernel", "initrd"] : ["file"];
}

function checkPartFits(format: UploadFields["format"], part: UploadFilePart): void {
  if (allowedParts(format).includes(part)) return;
  throw invalid(
    format === "kernel"
      ? `A kernel image is sent as the parts "kernel" (required) and "initrd" (optional), not "${part}".`
      : `A ${format} image is sent as the part "file"; "${part}" is for kernel images (format=kernel).`,
  );
}

async function familyBuilds(family: string, exceptId?: string) {
  return db().image.findMany({
    where: { family, ...(exceptId ? { NOT: { id: exceptId } } : {}) },
    select: { id: true, name: true, arch: true, visibility: true, projectId: true, ownerId: true },
  });
}

/** Refuses early, before any byte is stored, an upload whose family slot is already taken. */
async function preflightFamily(meta: Pick<UploadFields, "family" | "arch">, who: Caller): Promise<void> {
  if (!meta.family) return;
  const builds = await familyBuilds(meta.family);
  if (meta.arch) {
    const taken = builds.find((b) => b.arch === meta.arch);
    if (taken) throw conflict(await familyTakenFor(who.actor, meta.family, meta.arch, taken));
  } else if (ARCHES.every((a) => builds.some((b) => b.arch === a))) {
    throw conflict(
      `Family "${meta.family}" already has a build for every architecture (${ARCHES.join(", ")}); delete or re-family one first.`,
    );
  }
}

async function createUploadRow(meta: UploadFields, target: UploadTarget, who: Caller) {
  try {
    // The family is reserved at once only when the arch is known: (family, arch) is unique.
    return await db().image.create({
      data: {
        name: meta.name,
        format: meta.format,
        status: "uploading",
        visibility: target.visibility,
        projectId: target.projectId,
        ownerId: who.actor.id,
        uploadControllerId: activeControllerId(),
        arch: meta.arch ?? PENDING_ARCH,
        family: meta.arch ? (meta.family ?? null) : null,
        cmdline: meta.cmdline ?? null,
      },
    });
  } catch (e) {
    if (isUniqueViolation(e) && meta.family && meta.arch) {
      const taken = (await familyBuilds(meta.family)).find((b) => b.arch === meta.arch);
      // The holder is named only to a caller who may see it (an image of another project stays unnamed).
      throw conflict(await familyTakenFor(who.actor, meta.family, meta.arch, taken ?? null));
    }
    throw e;
  }
}

async function discard(id: string | null, received: Received): Promise<void> {
  await Promise.all(Object.values(received).map((s) => s.abort()));
  if (!id) return;
  active.delete(id);
  try {
    await rm(join(/* turbopackIgnore: true */ imagesDir(), id), { recursive: true, force: true });
    await db().image.deleteMany({ where: { id } });
  } catch (e) {
    // Leftovers are swept at the next start (sweepInterruptedUploads); the user still gets the real error.
    logError("image cleanup failed", e, { id });
  }
}

/** Validates the received files and turns the row into a ready image, or throws. */
async function finalize(
  id: string,
  meta: UploadFields,
  target: UploadTarget,
  received: Received,
  who: Caller,
): Promise<{ arch: Arch; detectedArch: Arch | null; warnings: string[] }> {
  // Again with the real size: the declared one may be absent, and other images may have landed meanwhile.
  await checkProjectQuota(target.projectId, receivedBytes(received), id);
  await db().image.update({ where: { id }, data: { status: "validating" } });
  const rel = (part: UploadFilePart) => `${id}/${STORED_NAME[part]}`;
  let data;
  let result: { arch: Arch; detectedArch: Arch | null; warnings: string[] };
  if (meta.format === "kernel") {
    const kernel = received.kernel!.result();
    const initrd = received.initrd?.result();
    const k = await inspectKernelImage(kernel.path, initrd?.path, { arch: meta.arch });
    const size = BigInt(kernel.bytes + (initrd?.bytes ?? 0));
    result = { arch: k.arch, detectedArch: k.detectedArch, warnings: k.warnings };
    data = {
      kernelPath: rel("kernel"),
      sha256: kernel.sha256,
      initrdPath: initrd ? rel("initrd") : null,
      initrdSha256: initrd?.sha256 ?? null,
      sizeBytes: size,
      virtualSize: size,
      minDiskGb: 1,
      cmdline: meta.cmdline ?? demoCmdline(k.arch),
      // Same convention as the demo images: aarch64 guests are UEFI machines.
      firmware: k.arch === "aarch64" ? "uefi" : "bios",
    };
  } else {
    const disk = received.file!.result();
    const r = await inspectImage(disk.path, { format: meta.format, arch: meta.arch });
    result = { arch: r.arch, detectedArch: r.detectedArch, warnings: r.warnings };
    data = {
      path: rel("file"),
      sha256: disk.sha256,
      sizeBytes: BigInt(disk.bytes),
      virtualSize: BigInt(r.virtualSize),
      minDiskGb: Math.max(1, Math.ceil(r.virtualSize / GiB)),
      firmware: r.firmware,
    };
  }
  try {
    await db().image.update({
      where: { id },
      data: {
        ...data,
        status: "ready",
        arch: result.arch,
        detectedArch: result.detectedArch,
        family: meta.family ?? null,
        error: null,
      },
    });
  } catch (e) {
    if (isUniqueViolation(e) && meta.family) {
      const taken = (await familyBuilds(meta.family, id)).find((b) => b.arch === result.arch);
      throw conflict(await familyTakenFor(who.actor, meta.family, result.arch, taken ?? null));
    }
    // The row vanished (deleted while validating): report it rather than a 500.
    if (typeof e === "object" && e !== null && (e as { code?: unknown }).code === "P2025")
      throw conflict("The image was deleted while it was being validated.");
    throw e;
  }
  return result;
}

function receivedBytes(received: Received): number {
  return Object.values(received).reduce((n, s) => n + s.result().bytes, 0);
}

/**
 * The free-space and quota checks repeated while bytes arrive: `others` is what the earlier parts
 * of this upload already stored, the callback gets this part's bytes so far.
 */
function recheckDuring(id: string, target: UploadTarget, others: () => number) {
  return async (bytes: number) => {
    await checkFreeSpace(imagesDir(), 0, true);
    await checkProjectQuota(target.projectId, others() + bytes, id);
  };
}

/** Before any byte is stored: the caller's project and visibility, free space and the quota for `declared` bytes. */
async function admit(meta: UploadFields, who: Caller, declared: number): Promise<UploadTarget> {
  const target = await resolveUploadTarget(who, { visibility: meta.visibility, projectId: meta.projectId });
  await checkFreeSpace(imagesDir(), declared);
  await checkProjectQuota(target.projectId, declared);
  return target;
}

async function audited(
  action: string,
  who: Caller,
  meta: () => Partial<UploadFields> | null,
  run: (setId: (id: string) => void) => Promise<StoredImageDto>,
): Promise<StoredImageDto> {
  let id: string | null = null;
  try {
    const image = await run((v) => (id = v));
    await recordAudit({
      actor: who.actor,
      action,
      result: "success",
      targetType: "image",
      targetId: image.id,
      clientIp: who.clientIp,
      details: {
        name: image.name,
        format: image.format,
        arch: image.arch,
        family: image.family,
        sizeBytes: image.sizeBytes,
        sha256: image.sha256,
        firmware: image.firmware,
      },
    });
    logInfo("image stored", { id: image.id, name: image.name, arch: image.arch, via: action });
    return image;
  } catch (error) {
    const message = error instanceof AppError ? error.message : "internal error";
    await recordAudit({
      actor: who.actor,
      action,
      result: "error",
      targetType: "image",
      targetId: id,
      clientIp: who.clientIp,
      details: { name: meta()?.name, format: meta()?.format, message },
    });
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// Upload

/**
 * `POST /api/v1/images`: a streamed multipart/form-data body. Text fields (name, format, arch,
 * family, visibility, cmdline) must come before the file parts, as browsers and `curl -F` send
 * them in order: the row is created, and the family slot checked, before the first file byte.
 */
export async function uploadImage(req: Request, who: Caller): Promise<StoredImageDto> {
  const boundary = multipartBoundary(req.headers.get("content-type"));
  const declared = Number(req.headers.get("content-length") ?? "NaN");
  if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) throw tooLarge("upload", MAX_IMAGE_BYTES);
  if (!req.body) throw invalid("The request has no body.");
  const body = req.body;
  // The body is a little larger than the files; good enough to refuse early what cannot fit.
  const expected = Number.isFinite(declared) ? Math.max(0, declared - MULTIPART_SLACK) : 0;
  await checkFreeSpace(imagesDir(), expected);

  const fields: Record<string, string> = {};
  let meta: UploadFields | null = null;
  let target: UploadTarget | null = null;
  let id: string | null = null;
  const received: Received = {};
  return audited(
    "image.upload",
    who,
    () => meta ?? (fields as Partial<UploadFields>),
    async (setId) => {
      try {
        await parseMultipart(
          body,
          boundary,
          async (part) => {
            if ((UPLOAD_TEXT_FIELDS as readonly string[]).includes(part.name)) {
              if (meta) throw invalid(`Send the text fields before the files: "${part.name}" came after a file part.`);
              if (part.name in fields) throw invalid(`The form field "${part.name}" was sent twice.`);
              return textSink(part.name, (v) => (fields[part.name] = v));
            }
            if (!(UPLOAD_FILE_PARTS as readonly string[]).includes(part.name))
              throw invalid(
                `Unknown form field "${part.name.slice(0, 40)}": send ${UPLOAD_TEXT_FIELDS.join(", ")} and then file (or kernel and initrd).`,
              );
            const name = part.name as UploadFilePart;
            if (!meta) {
              meta = parseOrThrow(uploadFieldsSchema, fields, "upload fields");
              checkPartFits(meta.format, name);
              target = await admit(meta, who, expected);
              await preflightFamily(meta, who);
              id = (await createUploadRow(meta, target, who)).id;
              setId(id);
              active.add(id);
              await claimUploadSlot(who.actor.id, id, (other) => active.has(other));
              await mkdir(join(/* turbopackIgnore: true */ imagesDir(), id), { recursive: true, mode: 0o700 });
            }
            checkPartFits(meta.format, name);
            if (received[name]) throw invalid(`The part "${name}" was sent twice.`);
            const before = receivedBytes(received);
            const sink = hashingFileSink(
              join(/* turbopackIgnore: true */ imagesDir(), id!, STORED_NAME[name]),
              LIMIT[name],
              name === "file" ? "image file" : name,
              recheckDuring(id!, target!, () => before),
            );
            received[name] = sink;
            return sink;
          },
          { signal: req.signal, drainOnErrorBytes: DRAIN_ON_ERROR_BYTES, maxFieldBytes: MAX_FIELD_BYTES },
        );
        const m = meta ?? parseOrThrow(uploadFieldsSchema, fields, "upload fields");
        const required: UploadFilePart = m.format === "kernel" ? "kernel" : "file";
        if (!received[required])
          throw invalid(
            `No "${required}" part was sent: ` +
              `${m.format === "kernel" ? "a kernel image needs the kernel file (and optionally the initrd)" : "attach the image file"}.`,
          );
        for (const [part, sink] of Object.entries(received))
          if (sink.result().bytes === 0) throw invalid(`The "${part}" part is empty.`);
        const found = await finalize(id!, m, target!, received, who);
        return { ...(await getImage(id!)), detectedArch: found.detectedArch, warnings: found.warnings };
      } catch (error) {
        await discard(id, received);
        throw error;
      } finally {
        if (id) active.delete(id);
      }
    },
  );
}

// ---------------------------------------------------------------------------------------------
// Import from a path on the controller (admin)

/**
 * Opens a source file for import: absolute, no symlink anywhere in the path (realpath must be the
 * path itself, and O_NOFOLLOW refuses a link swapped in afterwards), a regular non-empty file.
 */
async function openSource(path: string, max: number, what: string) {
  const real = await realpath(path).catch(() => null);
  if (!real) throw invalid(`The ${what} ${path} does not exist or is not readable by the controller.`);
  if (real !== path) throw invalid(`The ${what} path ${path} goes through a symbolic link; give the real path.`);
  const fh = await open(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW).catch((e: NodeJS.ErrnoException) => {
    throw invalid(
      e.code === "ELOOP"
        ? `The ${what} ${path} is a symbolic link.`
        : `The ${what} ${path} cannot be opened (${e.code ?? "error"}).`,
    );
  });
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw invalid(`The ${what} ${path} is not a regular file.`);
    if (st.size === 0) throw invalid(`The ${what} ${path} is empty.`);
    if (st.size > max) throw tooLarge(what, max);
    return fh;
  } catch (e) {
    await fh.close();
    throw e;
  }
}

/** `POST /api/v1/images/import`: copies a controller file into the store (streamed, hashed), then validates like an upload. */
export async function importImage(input: ImportImageInput, who: Caller): Promise<StoredImageDto> {
  const meta: UploadFields = {
    name: input.name,
    format: input.format,
    arch: input.arch,
    family: input.family,
    visibility: input.visibility,
    projectId: input.projectId,
    cmdline: input.cmdline,
  };
  const sources: [UploadFilePart, string][] =
    input.format === "kernel"
      ? [
          ["kernel", input.path],
          ...(input.initrdPath ? [["initrd", input.initrdPath] as [UploadFilePart, string]] : []),
        ]
      : [["file", input.path]];
  return audited(
    "image.import",
    who,
    () => meta,
    async (setId) => {
      const handles = await Promise.all(
        sources.map(([part, path]) => openSource(path, LIMIT[part], part === "file" ? "image file" : part)),
      );
      let id: string | null = null;
      const received: Received = {};
      try {
        const sizes = await Promise.all(handles.map(async (h) => (await h.stat()).size));
        const target = await admit(
          meta,
          who,
          sizes.reduce((a, b) => a + b, 0),
        );
        await preflightFamily(meta, who);
        id = (await createUploadRow(meta, target, who)).id;
        setId(id);
        active.add(id);
        await mkdir(join(/* turbopackIgnore: true */ imagesDir(), id), { recursive: true, mode: 0o700 });
        for (const [i, [part]] of sources.entries()) {
          const before = receivedBytes(received);
          const sink = hashingFileSink(
            join(/* turbopackIgnore: true */ imagesDir(), id, STORED_NAME[part]),
            LIMIT[part],
            part,
            recheckDuring(id, target, () => before),
          );
          received[part] = sink;
          for await (const chunk of handles[i]!.createReadStream({ autoClose: false, highWaterMark: 1 * MiB }))
            await sink.write(chunk as Buffer);
          await sink.end();
        }
        const found = await finalize(id, meta, target, received, who);
        return { ...(await getImage(id)), detectedArch: found.detectedArch, warnings: found.warnings };
      } catch (error) {
        await discard(id, received);
        throw error;
      } finally {
        if (id) active.delete(id);
        await Promise.all(handles.map((h) => h.close().catch(() => {})));
      }
    },
  );
}
