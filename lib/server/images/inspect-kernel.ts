import "server-only";
// Inspects a kernel (and optional initrd) for direct kernel boot: a Linux kernel at all, and its
// CPU architecture from the kernel header, decompressing only as much as the header needs.
// Every tool runs through spawn with an argv array and a timeout, never a shell. Memory stays
// bounded whatever the file's size: only a window of the kernel is read (see kernelWindow).
import { spawn } from "node:child_process";
import { open } from "node:fs/promises";
import * as zlib from "node:zlib";
import type { Arch } from "../../arch";
import { gunzipPrefix } from "../../image-detect/inflate";
import {
  compressionOf,
  detectKernelArch,
  KERNEL_HEADER_PREFIX,
  wrapInner,
  type Compression,
  type KernelDetection,
} from "../../image-detect/kernel";
import { DEFAULT_TIMEOUT_MS, MiB, readHead, reconcileArch, regularFile, unprocessable } from "./inspect-shared";
import type { InspectLimits } from "./inspect-disk";

export interface KernelInspection {
  arch: Arch;
  detectedArch: Arch | null;
  archSource: "kernel" | null;
  /** e.g. "x86 bzImage 6.1.0-56-amd64 (boot protocol 2.15)". */
  kind: string;
  reason: string;
  /** e.g. "gzip-compressed cpio archive"; absent without an initrd. */
  initrdKind?: string;
  warnings: string[];
}

const MAX_KERNEL_BYTES = 256 * 1024 * 1024;
const INITRD_HEAD_BYTES = 16 * 1024 * 1024;
/**
 * The most of a kernel read for inspection (and of an EFI zboot payload). Headers sit in the first
 * 64 KiB; the decompressors need only enough input for KERNEL_HEADER_PREFIX bytes of output, and
 * 16 MiB covers even lz4's legacy 8 MiB blocks.
 */
export const KERNEL_WINDOW_BYTES = 16 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Decompression

/**
 * Decompresses the start of `data` with an external tool, keeping at most `maxOut` bytes: header
 * detection needs only a prefix, and stopping early is also the decompression-bomb guard.
 */
function decompressPrefixWithTool(
  cmd: string,
  args: string[],
  data: Uint8Array,
  maxOut: number,
  timeoutMs: number,
): Promise<Uint8Array> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
    const chunks: Buffer[] = [];
    let got = 0;
    let stderr = "";
    let done = false;
    const finish = (err: Error | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      if (err && got === 0) return reject(err);
      resolvePromise(new Uint8Array(Buffer.concat(chunks).subarray(0, maxOut)));
    };
    const timer = setTimeout(() => finish(new Error(`${cmd} timed out`)), timeoutMs);
    child.on("error", (e: NodeJS.ErrnoException) =>
      finish(e.code === "ENOENT" ? new Error(`${cmd} is not installed on the controller`) : e),
    );
    child.stdin.on("error", () => {}); // EPIPE once we stop reading early: expected
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString().slice(0, 2000)));
    child.stdout.on("data", (d: Buffer) => {
      chunks.push(d);
      got += d.length;
      if (got >= maxOut) finish(null);
    });
    child.on("close", (code) =>
      finish(code === 0 ? null : new Error(`${cmd}: ${stderr.split("\n")[0] || `exit ${code}`}`)),
    );
    child.stdin.end(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  });
}

/** Node ≥ 22.15 has zstd in zlib; Node 20 does not, so fall back to Debian's zstd CLI. */
function zlibZstdStream(): (() => NodeJS.ReadWriteStream) | null {
  const create = (zlib as unknown as { createZstdDecompress?: () => NodeJS.ReadWriteStream }).createZstdDecompress;
  return typeof create === "function" ? create : null;
}

function decompressPrefixWithStream(
  stream: NodeJS.ReadWriteStream,
  data: Uint8Array,
  maxOut: number,
): Promise<Uint8Array> {
  return new Promise((resolvePromise, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    let done = false;
    const finish = (err: Error | null) => {
      if (done) return;
      done = true;
      (stream as unknown as { destroy?: () => void }).destroy?.();
      if (err && got === 0) return reject(err);
      resolvePromise(new Uint8Array(Buffer.concat(chunks).subarray(0, maxOut)));
    };
    stream.on("data", (d: Buffer) => {
      chunks.push(d);
      got += d.length;
      if (got >= maxOut) finish(null);
    });
    stream.on("error", (e: Error) => finish(e));
    stream.on("end", () => finish(null));
    stream.end(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  });
}

const TOOL_FOR: Record<Exclude<Compression, "gzip">, [string, string[]]> = {
  zstd: ["zstd", ["-d", "-c", "-q"]],
  xz: ["xz", ["-d", "-c", "-q", "--format=xz"]],
  lzma: ["xz", ["-d", "-c", "-q", "--format=lzma"]],
  lz4: ["lz4", ["-d", "-c", "-q"]],
  bzip2: ["bzip2", ["-d", "-c", "-q"]],
  lzo: ["lzop", ["-d", "-c", "-q"]],
};

/** The first `maxOut` decompressed bytes of `data`. */
export async function decompressPrefix(
  compression: Compression,
  data: Uint8Array,
  maxOut: number,
  timeoutMs = DEFAULT_TIMEOUT_MS,
): Promise<Uint8Array> {
  if (compression === "gzip") return gunzipPrefix(data, maxOut).out;
  const zstdStream = compression === "zstd" ? zlibZstdStream() : null;
  if (zstdStream) return decompressPrefixWithStream(zstdStream(), data, maxOut);
  const [cmd, args] = TOOL_FOR[compression];
  return decompressPrefixWithTool(cmd, args, data, maxOut, timeoutMs);
}

// ---------------------------------------------------------------------------------------------
// Kernels

/** detectKernelArch plus the decompressors the pure function leaves to the server (zstd, xz, ...). */
export async function detectKernelBytes(bytes: Uint8Array, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<KernelDetection> {
  let d = detectKernelArch(bytes);
  let source = bytes;
  for (let depth = 0; d.compression && d.payloadOffset !== undefined && depth < 3; depth++) {
    const payload = source.subarray(d.payloadOffset, d.payloadOffset + (d.payloadLength ?? source.length));
    let inner: Uint8Array;
    try {
      inner = await decompressPrefix(d.compression, payload, KERNEL_HEADER_PREFIX, timeoutMs);
    } catch (e) {
      return { ...d, reason: `could not decompress the ${d.compression} data: ${(e as Error).message}` };
    }
    const wrapper = d.wrapper ?? `${d.compression}-compressed`;
    source = inner;
    d = wrapInner(detectKernelArch(inner), wrapper);
  }
  return d;
}

/**
 * What detectKernelArch gets instead of the whole file: its first KERNEL_WINDOW_BYTES, or for an EFI
 * zboot image the bytes up to the payload plus the payload's first KERNEL_WINDOW_BYTES, with the
 * header's payload size shortened to match (a prefix decompresses like the whole stream's start).
 */
export async function kernelWindow(abs: string, size: number): Promise<Uint8Array> {
  const fh = await open(abs, "r");
  try {
    const readAt = async (position: number, length: number) => {
      const buf = Buffer.alloc(length);
      const { bytesRead } = await fh.read(buf, 0, length, position);
      return new Uint8Array(buf.buffer, buf.byteOffset, bytesRead);
    };
    const head = await readAt(0, Math.min(size, KERNEL_WINDOW_BYTES));
    const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
    const isZboot =
      head.length >= 64 && String.fromCharCode(...head.subarray(0, 2), ...head.subarray(4, 8)) === "MZzimg";
    if (!isZboot) return head;
    const offset = view.getUint32(8, true);
    const payload = view.getUint32(12, true);
    // A payload beyond the window or the file: leave it to detectKernelArch to say what is wrong.
    if (offset === 0 || offset > KERNEL_WINDOW_BYTES || offset + payload > size) return head;
    const take = Math.min(payload, KERNEL_WINDOW_BYTES);
    if (offset + take <= head.length) {
      const out = head.subarray(0, offset + take);
      new DataView(out.buffer, out.byteOffset, out.byteLength).setUint32(12, take, true);
      return out;
    }
    const out = new Uint8Array(offset + take);
    out.set(head.subarray(0, offset));
    out.set(await readAt(offset, take), offset);
    new DataView(out.buffer, out.byteOffset, out.byteLength).setUint32(12, take, true);
    return out;
  } finally {
    await fh.close();
  }
}

/** Initrd sanity: a cpio archive, optionally compressed (Debian prepends an uncompressed microcode cpio). */
async function initrdKind(abs: string, size: number, timeoutMs: number): Promise<string> {
  const head = await readHead(abs, Math.min(size, INITRD_HEAD_BYTES));
  const isCpio = (b: Uint8Array) =>
    b.length >= 6 && ["070701", "070702", "070707"].includes(String.fromCharCode(...b.subarray(0, 6)));
  if (isCpio(head)) return "cpio archive";
  const compression = compressionOf(head);
  if (!compression) {
    const k = detectKernelArch(head);
    const hint = k.arch ? ` It looks like a kernel (${k.kind}): were kernel and initrd swapped?` : "";
    throw unprocessable(`The initrd is not a cpio archive, compressed or not (gzip, zstd, xz, lz4, bzip2).${hint}`);
  }
  let inner: Uint8Array;
  try {
    inner = await decompressPrefix(compression, head, 64 * 1024, timeoutMs);
  } catch (e) {
    throw unprocessable(
      `The initrd is ${compression}-compressed but could not be decompressed: ${(e as Error).message}`,
    );
  }
  if (!isCpio(inner))
    throw unprocessable(`The initrd is ${compression}-compressed, but what is inside is not a cpio archive.`);
  return `${compression}-compressed cpio archive`;
}

/**
 * Inspects a kernel (and optional initrd) for direct kernel boot. The architecture comes from
 * the kernel header and is reconciled with `declared.arch`.
 */
export async function inspectKernelImage(
  kernelPath: string,
  initrdPath?: string,
  declared: { arch?: Arch } = {},
  limits: Pick<InspectLimits, "timeoutMs"> = {},
): Promise<KernelInspection> {
  const timeoutMs = limits.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const { abs, size } = await regularFile(kernelPath, "kernel");
  if (size > MAX_KERNEL_BYTES)
    throw unprocessable(
      `The kernel file is ${Math.round(size / MiB)} MiB; a Linux kernel is far smaller (limit ${MAX_KERNEL_BYTES / MiB} MiB).`,
    );
  const d = await detectKernelBytes(await kernelWindow(abs, size), timeoutMs);
  if (d.notKernel) throw unprocessable(`The kernel file is not a Linux kernel: ${d.reason}.`);
  if (d.unsupported) throw unprocessable(`The kernel is ${d.kind}: ${d.reason}.`);
  const arch = reconcileArch(declared.arch, {
    arch: d.arch,
    source: d.arch ? "kernel" : null,
    subject: "the kernel",
    detail: d.arch ? d.kind : d.reason,
  });
  const warnings: string[] = [];
  if (!d.arch) warnings.push(`Architecture not detected from the kernel (${d.reason}); using the declared ${arch}.`);
  if (d.kind.startsWith("PE/COFF EFI executable"))
    warnings.push("This looks like an EFI application rather than a Linux kernel: direct kernel boot may fail.");
  const result: KernelInspection = {
    arch,
    detectedArch: d.arch,
    archSource: d.arch ? "kernel" : null,
    kind: d.kind,
    reason: d.reason,
    warnings,
  };
  if (initrdPath) {
    const initrd = await regularFile(initrdPath, "initrd");
    result.initrdKind = await initrdKind(initrd.abs, initrd.size, timeoutMs);
  }
  return result;
}
