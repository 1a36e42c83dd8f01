import "server-only";
// What the disk-image and kernel inspectors (inspect-disk.ts, inspect-kernel.ts) share: reconciling
// a declared architecture with what the bytes say, and the first checks on an uploaded file.
// Internal to the images domain except reconcileArch and ArchEvidence, which index.ts re-exports.
import { lstat, open } from "node:fs/promises";
import { resolve } from "node:path";
import { ARCHES, normalizeArch, type Arch } from "../../arch";
import { AppError } from "../../errors";

/** What the bytes say about the architecture, for reconcileArch. */
export interface ArchEvidence {
  arch: Arch | null;
  source: "esp" | "kernel" | null;
  /** Subject for messages: "the kernel", "the disk's UEFI boot loader". */
  subject: string;
  /** Evidence in words: "arm64 Image header", "EFI/BOOT/BOOTAA64.EFI". */
  detail: string;
  /** Several supported arches at once (a multi-arch ISO). */
  candidates?: Arch[];
}

export const DEFAULT_TIMEOUT_MS = 30_000;
export const GiB = 1024 ** 3;
export const MiB = 1024 ** 2;

export const unprocessable = (message: string, details?: unknown) =>
  new AppError({ code: "unprocessable", message, details });
export const invalid = (message: string) => new AppError({ code: "invalid", message });

// ---------------------------------------------------------------------------------------------
// Architecture reconciliation

/**
 * The arch to store. A declared arch that contradicts the evidence is refused naming both;
 * no evidence and no declaration asks the uploader to choose.
 */
export function reconcileArch(declared: Arch | string | null | undefined, detected: ArchEvidence): Arch {
  const want = typeof declared === "string" ? normalizeArch(declared) : null;
  if (declared != null && declared !== "" && !want)
    throw invalid(`Unknown architecture "${String(declared).slice(0, 40)}": choose x86_64 or aarch64.`);
  if (detected.candidates && detected.candidates.length > 1) {
    if (want && detected.candidates.includes(want)) return want;
    if (want)
      throw unprocessable(
        `Declared ${want} but ${detected.subject} is for ${detected.candidates.join(" and ")} (${detected.detail}).`,
      );
    throw unprocessable(
      `${cap(detected.subject)} supports ${detected.candidates.join(" and ")} (${detected.detail}): choose which architecture this image is for.`,
    );
  }
  if (detected.arch && want && detected.arch !== want)
    throw unprocessable(
      `Declared ${want} but ${detected.subject} is ${detected.arch} (${detected.detail}). Choose ${detected.arch}, or upload the ${want} build.`,
    );
  const arch = want ?? detected.arch;
  if (!arch)
    throw unprocessable(
      `Could not tell the architecture of ${detected.subject} (${detected.detail}): choose ${ARCHES.join(" or ")} for this image.`,
    );
  return arch;
}

const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

// ---------------------------------------------------------------------------------------------
// Uploaded files

export async function regularFile(path: string, what: string): Promise<{ abs: string; size: number }> {
  // Absolute paths also keep qemu-img from reading "json:{...}" or "nbd:..." as a protocol.
  const abs = resolve(path);
  const st = await lstat(abs).catch(() => null);
  if (!st) throw invalid(`The ${what} file was not found.`);
  if (!st.isFile()) throw invalid(`The ${what} must be a regular file (not a link, directory or device).`);
  if (st.size === 0) throw unprocessable(`The ${what} file is empty: the upload may have failed.`);
  return { abs, size: st.size };
}

export async function readHead(abs: string, bytes: number): Promise<Uint8Array> {
  const fh = await open(abs, "r");
  try {
    const buf = Buffer.alloc(bytes);
    const { bytesRead } = await fh.read(buf, 0, bytes, 0);
    return new Uint8Array(buf.buffer, buf.byteOffset, bytesRead);
  } finally {
    await fh.close();
  }
}
