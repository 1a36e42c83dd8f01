import "server-only";
// Inspects uploaded disk images (qcow2, raw, ISO) before they enter the image store: real format vs
// the declared one, the qcow2 features that make QEMU open host files, size/truncation sanity,
// UEFI vs BIOS, and the CPU architecture from the EFI boot loaders on the disk.
// Every tool runs through execFile with an argv array and a timeout, never a shell.
import { execFile } from "node:child_process";
import { mkdtemp, open, readFile, rm, type FileHandle } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { isArch, normalizeArch, type Arch } from "../../arch";
import { AppError } from "../../errors";
import {
  DISK_HEAD_BYTES,
  parseIso9660,
  parseQcow2Header,
  rawLayout,
  sniffForeignFormat,
} from "../../image-detect/disk-format";
import { scanEfiBootLoaders, type EspScan, type ReadAt } from "../../image-detect/esp";
import {
  DEFAULT_TIMEOUT_MS,
  GiB,
  invalid,
  MiB,
  readHead,
  reconcileArch,
  regularFile,
  unprocessable,
  type ArchEvidence,
} from "./inspect-shared";

export type DiskFormat = "qcow2" | "raw" | "iso";

export interface DeclaredImage {
  format: DiskFormat;
  arch?: Arch;
}

export interface InspectLimits {
  /** Largest virtual disk size accepted, in GiB (default 2048). */
  maxVirtualGiB?: number;
  /** Timeout for qemu-img info / dd and decompressors, ms (default 30 s). */
  timeoutMs?: number;
  /** Timeout for `qemu-img check`, which reads all metadata, ms (default 5 min). */
  checkTimeoutMs?: number;
  /** Most bytes the EFI boot loader scan may read from the image, MiB (default 64). */
  espScanMiB?: number;
}

export interface ImageInspection {
  format: DiskFormat;
  /** Guest-visible disk size, bytes. */
  virtualSize: number;
  /** Bytes the file occupies on the host (qemu-img "actual-size"). */
  actualSize: number;
  /** Length of the file, bytes. */
  fileSize: number;
  firmware: "uefi" | "bios";
  detectedArch: Arch | null;
  archSource: "esp" | "kernel" | null;
  /** The architecture to store: declared or detected, reconciled. */
  arch: Arch;
  /** UEFI removable-media loaders found, e.g. "EFI/BOOT/BOOTAA64.EFI (GPT partition 1 (EFI system partition))". */
  bootLoaders: string[];
  warnings: string[];
}

const DEFAULT_MAX_VIRTUAL_GIB = 2048;
const DEFAULT_CHECK_TIMEOUT_MS = 300_000;
const QEMU_IMG = "qemu-img";

// ---------------------------------------------------------------------------------------------
// Process helpers

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a tool with an argv array; resolves with the exit code instead of throwing on non-zero. */
function run(cmd: string, args: string[], timeoutMs: number): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      cmd,
      args,
      { timeout: timeoutMs, maxBuffer: 8 * MiB, env: { ...process.env, LC_ALL: "C" } },
      (err, stdout, stderr) => {
        if (err && (err as NodeJS.ErrnoException).code === "ENOENT")
          return reject(new AppError({ code: "unavailable", message: `${cmd} is not installed on the controller.` }));
        if (err && err.killed)
          return reject(
            unprocessable(`${cmd} took longer than ${Math.round(timeoutMs / 1000)} s on this file and was stopped.`),
          );
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolvePromise({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

/** First line of a tool's complaint, without our temp/store paths (only the message reaches users). */
function toolMessage(stderr: string, path: string): string {
  const line = stderr.split("\n").find((l) => l.trim()) ?? "no error output";
  return line
    .split(path)
    .join(basename(path))
    .replace(/^qemu-img: /, "")
    .slice(0, 300);
}

// ---------------------------------------------------------------------------------------------
// Disk images

interface QemuImgInfo {
  format?: string;
  "virtual-size"?: number;
  "actual-size"?: number;
  "cluster-size"?: number;
  encrypted?: boolean;
  "backing-filename"?: string;
  "full-backing-filename"?: string;
  "format-specific"?: { type?: string; data?: { "data-file"?: string; corrupt?: boolean; encrypt?: unknown } };
}

interface QemuImgCheck {
  "check-errors"?: number;
  corruptions?: number;
  leaks?: number;
  "image-end-offset"?: number;
}

function fileReader(fh: FileHandle): ReadAt {
  return async (offset, length) => {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buf, 0, length, offset);
    return new Uint8Array(buf.buffer, buf.byteOffset, bytesRead);
  };
}

/**
 * A ReadAt over a qcow2 guest view, fetched in 4 MiB windows with `qemu-img dd` into a temp dir
 * (no qemu-nbd, no root). qemu-img 7.2's dd treats count as the END block when skip is set, so
 * we ask for count=skip+n and read only the first n MiB of the output, which is also right for
 * versions where count is a length.
 */
function qcow2Reader(abs: string, dir: string, timeoutMs: number, budget: { left: number }): ReadAt {
  const WINDOW_MIB = 4;
  const cache = new Map<number, Uint8Array>();
  let seq = 0;
  async function window(index: number): Promise<Uint8Array> {
    const hit = cache.get(index);
    if (hit) return hit;
    if (budget.left <= 0) throw new Error("scan budget exhausted");
    budget.left -= WINDOW_MIB * MiB;
    const out = join(dir, `w${seq++}.raw`);
    const skip = index * WINDOW_MIB;
    const r = await run(
      QEMU_IMG,
      [
        "dd",
        "-f",
        "qcow2",
        "-O",
        "raw",
        "bs=1M",
        `skip=${skip}`,
        `count=${skip + WINDOW_MIB}`,
        `if=${abs}`,
        `of=${out}`,
      ],
      timeoutMs,
    );
    let data = new Uint8Array(0);
    if (r.code === 0) data = new Uint8Array((await readFile(out)).subarray(0, WINDOW_MIB * MiB));
    await rm(out, { force: true });
    if (cache.size >= 8) cache.delete(cache.keys().next().value as number);
    cache.set(index, data);
    return data;
  }
  return async (offset, length) => {
    const size = WINDOW_MIB * MiB;
    const parts: Uint8Array[] = [];
    let pos = offset;
    const end = offset + length;
    while (pos < end) {
      const w = await window(Math.floor(pos / size));
      const start = pos % size;
      const piece = w.subarray(start, Math.min(w.length, start + (end - pos)));
      if (piece.length === 0) break;
      parts.push(piece);
      pos += piece.length;
      if (w.length < size && start + piece.length >= w.length) break; // end of image
    }
    if (parts.length === 1) return parts[0]!;
    const outBuf = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) {
      outBuf.set(p, o);
      o += p.length;
    }
    return outBuf;
  };
}

function budgeted(read: ReadAt, budget: { left: number }): ReadAt {
  return async (offset, length) => {
    if (budget.left <= 0) throw new Error("scan budget exhausted");
    budget.left -= length;
    return read(offset, length);
  };
}

function rejectQcow2Header(head: Uint8Array, maxVirtual: number): void {
  const q = parseQcow2Header(head);
  if (!q) return;
  if (q.backingFile !== null) {
    const named = q.backingFile ? ` ("${q.backingFile.slice(0, 100)}")` : "";
    throw unprocessable(
      `The qcow2 image refers to a backing file${named}; images must be self-contained. ` +
        "Flatten it first: qemu-img convert -O qcow2 in.qcow2 out.qcow2",
    );
  }
  if (q.externalDataFile) {
    const named = q.dataFileName ? ` ("${q.dataFileName.slice(0, 100)}")` : "";
    throw unprocessable(
      `The qcow2 image keeps its data in an external file${named}; images must be self-contained. ` +
        "Convert it first: qemu-img convert -O qcow2 in.qcow2 out.qcow2",
    );
  }
  if (q.encrypted) throw unprocessable("The qcow2 image is encrypted; upload an unencrypted image.");
  if (q.corrupt)
    throw unprocessable(
      "The qcow2 image is marked corrupt by QEMU; repair it (qemu-img check -r all) or upload a fresh copy.",
    );
  if (q.unknownIncompatible)
    throw unprocessable(
      "The qcow2 image uses features this QEMU does not know; convert it with qemu-img convert -O qcow2 -o compat=1.1.",
    );
  if (q.virtualSize > maxVirtual) throw tooBig(q.virtualSize, maxVirtual);
}

const tooBig = (size: number, max: number) =>
  unprocessable(
    `The image's virtual disk is ${fmtSize(size)}, above the ${fmtSize(max)} limit: check the image, or ask an admin to raise the limit.`,
  );

function fmtSize(bytes: number): string {
  if (bytes >= 1024 * GiB) return `${+(bytes / (1024 * GiB)).toFixed(1)} TiB`;
  if (bytes >= GiB) return `${+(bytes / GiB).toFixed(1)} GiB`;
  return `${+(bytes / MiB).toFixed(1)} MiB`;
}

function espEvidence(scan: EspScan): ArchEvidence {
  const supported = scan.loaders.filter((l) => l.arch);
  const names = [...new Set(supported.map((l) => l.path))].join(", ");
  if (scan.arches.length > 1)
    return {
      arch: null,
      source: "esp",
      subject: "the image's UEFI boot loader",
      detail: names,
      candidates: scan.arches,
    };
  if (scan.arches.length === 1)
    return { arch: scan.arches[0]!, source: "esp", subject: "the image's UEFI boot loader", detail: names };
  return {
    arch: null,
    source: null,
    subject: "the image",
    detail: "no UEFI boot loader EFI/BOOT/BOOTX64.EFI or BOOTAA64.EFI found",
  };
}

/**
 * Inspects an uploaded disk image. Throws AppError (invalid / unprocessable) with a message the
 * uploader can act on; returns what the image service stores.
 */
export async function inspectImage(
  path: string,
  declared: DeclaredImage,
  limits: InspectLimits = {},
): Promise<ImageInspection> {
  if (!["qcow2", "raw", "iso"].includes(declared.format))
    throw invalid(`Unknown image format "${String(declared.format)}": use qcow2, raw or iso.`);
  if (declared.arch !== undefined && !isArch(declared.arch) && !normalizeArch(declared.arch))
    throw invalid(`Unknown architecture "${String(declared.arch)}": choose x86_64 or aarch64.`);
  const maxVirtual = (limits.maxVirtualGiB ?? DEFAULT_MAX_VIRTUAL_GIB) * GiB;
  const timeoutMs = limits.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const { abs, size: fileSize } = await regularFile(path, "image");
  const warnings: string[] = [];

  // 1. Our own look at the header first: refuse files that would make qemu-img open others.
  const head = await readHead(abs, DISK_HEAD_BYTES);
  const foreign = sniffForeignFormat(head);
  if (foreign)
    throw unprocessable(
      `The file is a ${foreign} image, not ${declared.format}; convert it: qemu-img convert -O qcow2 <file> out.qcow2`,
    );
  rejectQcow2Header(head, maxVirtual);

  // 2. qemu-img's own probe (no -f): the real format, to compare with the declared one.
  const infoRun = await run(QEMU_IMG, ["info", "--output=json", abs], timeoutMs);
  if (infoRun.code !== 0)
    throw unprocessable(`qemu-img cannot read this file as a disk image: ${toolMessage(infoRun.stderr, abs)}`);
  let info: QemuImgInfo;
  try {
    info = JSON.parse(infoRun.stdout) as QemuImgInfo;
  } catch {
    throw unprocessable("qemu-img gave an unreadable answer for this file.");
  }
  const iso = parseIso9660(head);
  const real: string = info.format === "raw" && iso ? "iso" : (info.format ?? "unknown");
  if (real !== declared.format) {
    const what = real === "iso" ? "an ISO 9660 image" : real === "raw" ? "raw" : real;
    if (declared.format === "iso" && real === "raw")
      throw unprocessable(
        'The file is not an ISO 9660 image (no "CD001" volume descriptor at 0x8001); if it is a disk image, declare it as raw.',
      );
    if (!["qcow2", "raw", "iso"].includes(real))
      throw unprocessable(
        `The file is ${what}, which Polyarch does not accept; convert it: qemu-img convert -O qcow2 <file> out.qcow2`,
      );
    throw unprocessable(
      `The file is ${what}, not ${declared.format}: declare it as ${real}, or upload the right file.`,
    );
  }

  const virtualSize = info["virtual-size"] ?? 0;
  const actualSize = info["actual-size"] ?? fileSize;
  if (virtualSize > maxVirtual) throw tooBig(virtualSize, maxVirtual);
  if (virtualSize <= 0) throw unprocessable("qemu-img reports a virtual size of 0: the image is empty or damaged.");

  if (real === "qcow2") {
    // Defence in depth: qemu-img's view of the same dangerous features.
    const data = info["format-specific"]?.data ?? {};
    if (info["backing-filename"] || info["full-backing-filename"])
      throw unprocessable(
        "The qcow2 image refers to a backing file; images must be self-contained. Flatten it first: qemu-img convert -O qcow2 in.qcow2 out.qcow2",
      );
    if (data["data-file"])
      throw unprocessable(
        "The qcow2 image keeps its data in an external file; images must be self-contained. Convert it first: qemu-img convert -O qcow2 in.qcow2 out.qcow2",
      );
    if (info.encrypted || data.encrypt)
      throw unprocessable("The qcow2 image is encrypted; upload an unencrypted image.");
    if (data.corrupt)
      throw unprocessable(
        "The qcow2 image is marked corrupt; repair it (qemu-img check -r all) or upload a fresh copy.",
      );
    const checkRun = await run(
      QEMU_IMG,
      ["check", "--output=json", "-f", "qcow2", abs],
      limits.checkTimeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS,
    );
    let check: QemuImgCheck = {};
    try {
      check = JSON.parse(checkRun.stdout) as QemuImgCheck;
    } catch {
      /* exit code 1 may come without JSON: handled below */
    }
    // qemu-img check: 0 clean, 1 check failed, 2 corruptions, 3 only leaked clusters, 63 unsupported.
    if (
      checkRun.code === 1 ||
      checkRun.code === 2 ||
      (check.corruptions ?? 0) > 0 ||
      (check["check-errors"] ?? 0) > 0
    ) {
      const complaint = checkRun.stderr.trim() ? `; ${toolMessage(checkRun.stderr, abs)}` : "";
      throw unprocessable(
        `The qcow2 image is damaged or truncated (qemu-img check: ${check.corruptions ?? "?"} corruptions, ` +
          `${check["check-errors"] ?? "?"} errors${complaint}): upload it again.`,
      );
    }
    if (checkRun.code !== 0 && checkRun.code !== 3)
      throw unprocessable(
        `qemu-img check could not verify the image (exit ${checkRun.code}): ${toolMessage(checkRun.stderr, abs)}`,
      );
    // image-end-offset is cluster-aligned, while a file may legitimately end inside its last cluster:
    // compressed clusters (`qemu-img convert -c`, how Debian and Ubuntu ship cloud images) and a fresh
    // `qemu-img create` both do. Truncation is when the metadata reaches past that last cluster.
    const slack = info["cluster-size"] ?? 65536;
    if ((check["image-end-offset"] ?? 0) > fileSize + slack)
      throw unprocessable(
        `The qcow2 image is truncated: its metadata reaches ${check["image-end-offset"]} bytes but the file has ${fileSize}. Upload it again.`,
      );
    // Leaked clusters only waste space (an interrupted write); the guest's data is intact.
    if ((check.leaks ?? 0) > 0)
      warnings.push(
        `qemu-img check found ${check.leaks} leaked clusters (wasted space, no data loss); qemu-img check -r leaks can reclaim them.`,
      );
  } else if (real === "iso") {
    if (iso!.volumeBytes > fileSize)
      throw unprocessable(
        `The ISO image is truncated: its volume descriptor says ${iso!.volumeBytes} bytes but the file has ${fileSize}. Upload it again.`,
      );
  } else {
    const layout = rawLayout(head);
    if (!layout)
      throw unprocessable(
        "The raw image has no partition table, boot sector or file system we recognise (random or blank data?): check that this is the right file.",
      );
  }

  // 3. UEFI boot loaders → firmware and architecture.
  const budget = { left: (limits.espScanMiB ?? 64) * MiB };
  let scan: EspScan = { partitionTable: "none", scanned: [], loaders: [], arches: [], notes: [] };
  const tmp = real === "qcow2" ? await mkdtemp(join(tmpdir(), "polyarch-inspect-")) : null;
  const fh = real === "qcow2" ? null : await open(abs, "r");
  try {
    const reader = tmp ? qcow2Reader(abs, tmp, timeoutMs, budget) : budgeted(fileReader(fh!), budget);
    scan = await scanEfiBootLoaders(reader);
  } catch (e) {
    if (e instanceof AppError) throw e;
    warnings.push(
      `The UEFI boot loader scan stopped early (${(e as Error).message}); architecture and firmware are not verified from the image.`,
    );
  } finally {
    await fh?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  }
  warnings.push(...scan.notes);

  const evidence = espEvidence(scan);
  const arch = reconcileArch(declared.arch, evidence);
  let firmware: "uefi" | "bios" = scan.loaders.length > 0 ? "uefi" : "bios";
  if (arch === "aarch64" && firmware === "bios") {
    firmware = "uefi"; // aarch64 `virt` boots disks only through UEFI (AAVMF)
    warnings.push(
      "No EFI/BOOT/BOOTAA64.EFI found: AAVMF will only boot this disk through its own boot entries or the UEFI shell (startup.nsh).",
    );
  }
  if (!evidence.arch && !evidence.candidates)
    warnings.push(`Architecture not detected from the image (${evidence.detail}); using the declared ${arch}.`);

  // A multi-arch image whose declared arch is among its loaders is confirmed by the ESP too.
  const confirmed = evidence.arch ?? (evidence.candidates?.includes(arch) ? arch : null);
  return {
    format: real as DiskFormat,
    virtualSize,
    actualSize,
    fileSize,
    firmware,
    detectedArch: confirmed,
    archSource: confirmed ? "esp" : null,
    arch,
    bootLoaders: scan.loaders.map((l) => `${l.path} (${l.location})`),
    warnings,
  };
}
