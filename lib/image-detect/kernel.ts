// Detects a Linux kernel's CPU architecture from its own header bytes (pure, browser-safe).
// File names and uploader claims lie; the boot header cannot, because the bootloader and QEMU
// read the same bytes. gzip is decoded here (prefix only); other compressions are reported
// with `compression` + payload location so the server can decompress them with a CLI tool.
import type { Arch } from "../arch";
import { gunzipPrefix, InflateError } from "./inflate";

export type Compression = "gzip" | "zstd" | "xz" | "lzma" | "lz4" | "bzip2" | "lzo";

export interface KernelDetection {
  arch: Arch | null;
  /** What the file is, e.g. "x86 bzImage 6.1.0-56-amd64 (boot protocol 2.15)". */
  kind: string;
  /** Why we concluded `arch` (or why we could not). */
  reason: string;
  /** Set when the bytes (or a zboot payload) are compressed and must be decompressed by the caller. */
  compression?: Compression;
  /** How the undecoded payload is wrapped, e.g. "EFI zboot, zstd-compressed" (with `compression`). */
  wrapper?: string;
  /** A kernel for a CPU Polyarch does not run (32-bit, RISC-V, ...). */
  unsupported?: boolean;
  /** The file is recognisably not a kernel (cpio archive, unknown bytes). */
  notKernel?: boolean;
  /** Where the compressed stream is inside `bytes` (whole file when not a zboot image). */
  payloadOffset?: number;
  payloadLength?: number;
}

export interface DetectKernelOptions {
  /** How many decompressed bytes to decode when looking for the inner header (default 1 MiB). */
  maxDecompressedBytes?: number;
  /** Nesting depth already used (compressed-in-zboot, etc.); internal. */
  depth?: number;
}

/** Bytes of decompressed output that are enough to see every header we know (PE offsets are < 64 KiB). */
export const KERNEL_HEADER_PREFIX = 1 << 20;
const MAX_DEPTH = 3;

const ELF_MACHINES: Record<number, { name: string; arch?: Arch }> = {
  0x02: { name: "SPARC" },
  0x03: { name: "x86 32-bit (i386)" },
  0x08: { name: "MIPS" },
  0x14: { name: "PowerPC 32-bit" },
  0x15: { name: "PowerPC 64-bit" },
  0x16: { name: "IBM s390" },
  0x28: { name: "ARM 32-bit" },
  0x2b: { name: "SPARC64" },
  0x3e: { name: "x86_64", arch: "x86_64" },
  0xb7: { name: "aarch64", arch: "aarch64" },
  0xf3: { name: "RISC-V" },
  0x102: { name: "LoongArch" },
};

const PE_MACHINES: Record<number, { name: string; arch?: Arch }> = {
  0x014c: { name: "x86 32-bit (i386)" },
  0x8664: { name: "x86_64", arch: "x86_64" },
  0xaa64: { name: "aarch64", arch: "aarch64" },
  0x01c0: { name: "ARM 32-bit" },
  0x01c2: { name: "ARM 32-bit (Thumb)" },
  0x01c4: { name: "ARM 32-bit (ARMv7 Thumb-2)" },
  0x5032: { name: "RISC-V 32-bit" },
  0x5064: { name: "RISC-V 64-bit" },
  0x6264: { name: "LoongArch 64-bit" },
};

const hex = (n: number, width = 2) => `0x${n.toString(16).toUpperCase().padStart(width, "0")}`;

function u16(b: Uint8Array, o: number): number {
  return o + 2 <= b.length ? b[o]! | (b[o + 1]! << 8) : -1;
}
function u32(b: Uint8Array, o: number): number {
  return o + 4 <= b.length ? (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0 : -1;
}
function ascii(b: Uint8Array, o: number, s: string): boolean {
  if (o + s.length > b.length) return false;
  for (let i = 0; i < s.length; i++) if (b[o + i] !== s.charCodeAt(i)) return false;
  return true;
}
function cString(b: Uint8Array, o: number, max: number): string {
  let s = "";
  for (let i = o; i < Math.min(b.length, o + max); i++) {
    const c = b[i]!;
    if (c === 0) break;
    if (c < 0x20 || c > 0x7e) return "";
    s += String.fromCharCode(c);
  }
  return s;
}

/** Recognises a compressed stream by its magic number. */
export function compressionOf(b: Uint8Array, o = 0): Compression | null {
  if (b[o] === 0x1f && b[o + 1] === 0x8b) return "gzip";
  if (u32(b, o) === 0xfd2fb528) return "zstd";
  if (b[o] === 0xfd && ascii(b, o + 1, "7zXZ") && b[o + 5] === 0) return "xz";
  if (u32(b, o) === 0x184d2204 || u32(b, o) === 0x184c2102) return "lz4";
  if (ascii(b, o, "BZh") && b[o + 3]! >= 0x31 && b[o + 3]! <= 0x39) return "bzip2";
  if (b[o] === 0x89 && ascii(b, o + 1, "LZO")) return "lzo";
  // Legacy .lzma has no magic: properties byte 0x5D and a 2^n dictionary size is the usual tell.
  if (b[o] === 0x5d && b[o + 1] === 0 && b[o + 2] === 0) return "lzma";
  return null;
}

function fromPe(b: Uint8Array, what: string): KernelDetection | null {
  const peOff = u32(b, 0x3c);
  if (peOff < 0x40 || peOff > b.length - 6 || !ascii(b, peOff, "PE\0\0")) return null;
  const machine = u16(b, peOff + 4);
  const m = PE_MACHINES[machine];
  const kind = `${what} (PE/COFF machine ${hex(machine, 4)}${m ? ` ${m.name}` : ""})`;
  if (m?.arch) return { arch: m.arch, kind, reason: `PE/COFF header Machine ${hex(machine, 4)} is ${m.name}` };
  return {
    arch: null,
    kind,
    unsupported: true,
    reason: m
      ? `PE machine ${hex(machine, 4)} (${m.name}) is not supported: Polyarch runs x86_64 and aarch64`
      : `PE machine ${hex(machine, 4)} is not one we know`,
  };
}

function bzImage(b: Uint8Array): KernelDetection {
  const version = u16(b, 0x206);
  const proto = `${version >> 8}.${String(version & 0xff).padStart(2, "0")}`;
  // kernel_version is a pointer relative to 0x200 (real-mode setup start).
  const verPtr = u16(b, 0x20e);
  const release = verPtr > 0 ? cString(b, verPtr + 0x200, 128).split(" ")[0] : "";
  const kind = `x86 bzImage${release ? ` ${release}` : ""} (boot protocol ${proto})`;
  // xloadflags bit 0 (XLF_KERNEL_64, protocol >= 2.12) says the kernel has a 64-bit entry point.
  if (version >= 0x20c) {
    const xloadflags = u16(b, 0x236);
    if (xloadflags & 1)
      return { arch: "x86_64", kind, reason: "x86 boot header (HdrS) with the 64-bit kernel flag XLF_KERNEL_64" };
    return {
      arch: null,
      kind,
      unsupported: true,
      reason:
        "x86 bzImage without the 64-bit flag is a 32-bit (i386) kernel, which is not supported: Polyarch runs x86_64 and aarch64",
    };
  }
  const pe = fromPe(b, kind);
  if (pe?.arch === "x86_64") return { ...pe, kind, reason: `x86 boot header (HdrS); ${pe.reason}` };
  return {
    arch: null,
    kind,
    reason: `x86 boot protocol ${proto} is too old to tell a 32-bit from a 64-bit kernel; declare the architecture`,
  };
}

function arm64Image(b: Uint8Array): KernelDetection {
  // Header: code0, code1, text_offset u64, image_size u64, flags u64 at 0x18, ..., magic at 0x38.
  const flags = u32(b, 0x18);
  const be = (flags & 1) === 1;
  const pageBits = (flags >> 1) & 3;
  const page = [null, "4K pages", "16K pages", "64K pages"][pageBits];
  const details = [be ? "big-endian" : "little-endian", page].filter(Boolean).join(", ");
  return {
    arch: "aarch64",
    kind: `arm64 Image (${details})`,
    reason: `arm64 Image header (magic "ARM\\x64" at 0x38)`,
  };
}

function elf(b: Uint8Array): KernelDetection {
  const cls = b[4] === 1 ? 32 : b[4] === 2 ? 64 : 0;
  const le = b[5] !== 2;
  const machine = le ? u16(b, 0x12) : (b[0x12]! << 8) | b[0x13]!;
  const m = ELF_MACHINES[machine];
  const kind = `ELF ${cls || "?"}-bit ${le ? "LE" : "BE"} executable (vmlinux, machine ${hex(machine)})`;
  if (m?.arch && cls === 64) return { arch: m.arch, kind, reason: `ELF header e_machine ${hex(machine)} is ${m.name}` };
  return {
    arch: null,
    kind,
    unsupported: true,
    reason: m
      ? `ELF machine ${hex(machine)} (${m.name}${cls === 32 && m.arch ? ", 32-bit class" : ""}) is not supported: Polyarch runs x86_64 and aarch64`
      : `ELF machine ${hex(machine)} is not one we know`,
  };
}

function decompressedInner(
  b: Uint8Array,
  compression: Compression,
  offset: number,
  length: number,
  opts: DetectKernelOptions,
  outer: string,
): KernelDetection {
  const depth = (opts.depth ?? 0) + 1;
  const where = outer ? `${outer}, ` : "";
  if (compression !== "gzip")
    return {
      arch: null,
      kind: `${where}${compression}-compressed data`,
      reason: `compressed with ${compression}: needs decompression`,
      compression,
      wrapper: `${where}${compression}-compressed`,
      payloadOffset: offset,
      payloadLength: length,
    };
  if (depth > MAX_DEPTH)
    return { arch: null, kind: `${where}gzip-compressed data`, reason: "compression nested too deeply" };
  let inner: Uint8Array;
  try {
    inner = gunzipPrefix(b.subarray(offset, offset + length), opts.maxDecompressedBytes ?? KERNEL_HEADER_PREFIX).out;
  } catch (e) {
    const msg = e instanceof InflateError ? e.message : String(e);
    return { arch: null, kind: `${where}gzip-compressed data`, reason: `gzip data could not be decoded: ${msg}` };
  }
  return wrapInner(detectKernelArch(inner, { ...opts, depth }), `${where}gzip-compressed`);
}

/** Prefixes the inner detection's kind with how it was wrapped ("gzip-compressed arm64 Image"). */
export function wrapInner(inner: KernelDetection, wrapper: string): KernelDetection {
  return { ...inner, kind: `${wrapper} ${inner.kind}`, reason: inner.reason };
}

function zboot(b: Uint8Array, opts: DetectKernelOptions): KernelDetection {
  // EFI zboot header (drivers/firmware/efi/libstub/zboot-header.S): "MZ", 2 bytes, "zimg",
  // payload offset u32, payload size u32, 8 reserved bytes, NUL-terminated compression name at 24.
  const offset = u32(b, 8);
  const size = u32(b, 12);
  const comp = cString(b, 24, 32);
  const kind = `EFI zboot image (${comp || "unknown"} payload)`;
  if (offset <= 0 || offset + size > b.length || size === 0)
    return {
      arch: null,
      kind,
      reason: `EFI zboot payload (offset ${offset}, size ${size}) lies outside the file: truncated upload?`,
    };
  const compression =
    compressionOf(b, offset) ??
    (comp === "gzip" || comp === "zstd" || comp === "xz" || comp === "lzma" || comp === "lz4" ? comp : null);
  if (!compression)
    return { arch: null, kind, reason: `EFI zboot payload compression "${comp}" is not one we can decode` };
  return decompressedInner(b, compression, offset, size, opts, "EFI zboot");
}

/**
 * Architecture of a kernel from its header. Order matters: an x86 bzImage and an arm64 Image
 * are both also MZ/PE files (EFI stub), so their native headers are checked first.
 */
export function detectKernelArch(bytes: Uint8Array, opts: DetectKernelOptions = {}): KernelDetection {
  const b = bytes;
  if (b.length < 64 && !compressionOf(b))
    return {
      arch: null,
      kind: "too small",
      reason: `only ${b.length} bytes: too small to be a kernel`,
      notKernel: true,
    };
  if (ascii(b, 0x202, "HdrS")) return bzImage(b);
  if (u32(b, 0x38) === 0x644d5241) return arm64Image(b);
  if (ascii(b, 0, "MZ") && ascii(b, 4, "zimg")) return zboot(b, opts);
  if (ascii(b, 0, "\x7fELF")) return elf(b);
  // RISC-V Image ("RSC\x05" at 0x34) and 32-bit ARM zImage (0x016F2818 at 0x24) have their own headers.
  if (ascii(b, 0x34, "RSC\x05"))
    return {
      arch: null,
      kind: "RISC-V Image",
      unsupported: true,
      reason: "RISC-V kernels are not supported: Polyarch runs x86_64 and aarch64",
    };
  if (u32(b, 0x24) === 0x016f2818)
    return {
      arch: null,
      kind: "ARM 32-bit zImage",
      unsupported: true,
      reason: "32-bit ARM kernels are not supported: Polyarch runs x86_64 and aarch64",
    };
  if (ascii(b, 0, "MZ")) {
    const pe = fromPe(b, "PE/COFF EFI executable");
    if (pe) return pe;
    return {
      arch: null,
      kind: "MZ executable without a PE header",
      reason: "starts with MZ but has no PE/COFF header: not a kernel we know",
      notKernel: true,
    };
  }
  const compression = compressionOf(b);
  if (compression) return decompressedInner(b, compression, 0, b.length, opts, "");
  if (ascii(b, 0, "070701") || ascii(b, 0, "070702") || ascii(b, 0, "070707"))
    return {
      arch: null,
      kind: "cpio archive",
      reason: "this is a cpio archive (an initrd?), not a kernel",
      notKernel: true,
    };
  const head = Array.from(b.subarray(0, 8), (x) => x.toString(16).padStart(2, "0")).join(" ");
  return {
    arch: null,
    notKernel: true,
    kind: "unknown",
    reason: `no kernel header found (first bytes ${head}): expected an x86 bzImage, arm64 Image, ELF vmlinux, EFI (PE) kernel or a gzip/zstd/xz-compressed one`,
  };
}
