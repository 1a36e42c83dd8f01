// Pure checks on the first bytes of an uploaded disk image, done BEFORE qemu-img opens it:
// a qcow2 backing file or external data file, or a VMDK extent, makes QEMU open arbitrary
// host files, so such images are refused without letting QEMU touch them.

/** Bytes to read from the start of the file for these checks (covers the ISO PVD at 0x8000). */
export const DISK_HEAD_BYTES = 0x11000; // 68 KiB: the Btrfs superblock magic sits at 0x10040

export type ForeignFormat =
  "qcow (version 1)" | "qed" | "vmdk" | "vdi" | "vhdx" | "vhd (vpc)" | "luks" | "parallels" | "bochs" | "cloop";

const be32 = (b: Uint8Array, o: number) =>
  o + 4 <= b.length ? ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0 : 0;
const be64 = (b: Uint8Array, o: number) => be32(b, o) * 2 ** 32 + be32(b, o + 4);
const le32 = (b: Uint8Array, o: number) =>
  o + 4 <= b.length ? (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0 : 0;
const le16 = (b: Uint8Array, o: number) => (o + 2 <= b.length ? b[o]! | (b[o + 1]! << 8) : 0);
const ascii = (b: Uint8Array, o: number, s: string) => {
  if (o + s.length > b.length) return false;
  for (let i = 0; i < s.length; i++) if (b[o + i] !== s.charCodeAt(i)) return false;
  return true;
};

/** Formats QEMU would probe that Polyarch does not accept (several can reference other files). */
export function sniffForeignFormat(head: Uint8Array): ForeignFormat | null {
  if (ascii(head, 0, "QFI\xfb") && be32(head, 4) === 1) return "qcow (version 1)";
  if (ascii(head, 0, "QED\0")) return "qed";
  if (ascii(head, 0, "KDMV") || ascii(head, 0, "COWD") || ascii(head, 0, "# Disk DescriptorFile")) return "vmdk";
  if (le32(head, 0x40) === 0xbeda107f) return "vdi";
  if (ascii(head, 0, "vhdxfile")) return "vhdx";
  if (ascii(head, 0, "conectix")) return "vhd (vpc)";
  if (ascii(head, 0, "LUKS\xba\xbe")) return "luks";
  if (ascii(head, 0, "WithoutFreeSpace") || ascii(head, 0, "WithouFreSpacExt")) return "parallels";
  if (ascii(head, 0, "Bochs Virtual HD Image")) return "bochs";
  if (ascii(head, 0, "#!/bin/sh\n#V2.0 Format")) return "cloop";
  return null;
}

export interface Qcow2Header {
  version: number;
  virtualSize: number;
  clusterBits: number;
  /** Non-null when the image names a backing file (the name, or "" when it lies beyond `head`). */
  backingFile: string | null;
  encrypted: boolean;
  externalDataFile: boolean;
  /** From header extension 0x44415441, when present. */
  dataFileName: string | null;
  dirty: boolean;
  corrupt: boolean;
  /** Incompatible feature bits we do not know: QEMU may refuse the image. */
  unknownIncompatible: number;
}

/** Parses a qcow2 (v2/v3) header; null when `head` is not one. Fields are big-endian. */
export function parseQcow2Header(head: Uint8Array): Qcow2Header | null {
  if (!ascii(head, 0, "QFI\xfb") || head.length < 72) return null;
  const version = be32(head, 4);
  if (version !== 2 && version !== 3) return null;
  const backingOffset = be64(head, 8);
  const backingSize = be32(head, 16);
  let backingFile: string | null = null;
  if (backingOffset !== 0) {
    const end = backingOffset + Math.min(backingSize, 1023);
    backingFile = end <= head.length ? String.fromCharCode(...head.subarray(backingOffset, end)) : "";
  }
  const incompatible = version === 3 ? be32(head, 76) : 0; // low 32 bits of the u64 at 72
  const headerLength = version === 3 ? be32(head, 100) : 72;
  let dataFileName: string | null = null;
  // Header extensions: (type u32, length u32, data padded to 8 bytes), terminated by type 0.
  for (let o = headerLength, n = 0; o + 8 <= head.length && n < 64; n++) {
    const type = be32(head, o);
    const len = be32(head, o + 4);
    if (type === 0) break;
    if (type === 0x44415441 && o + 8 + len <= head.length)
      dataFileName = String.fromCharCode(...head.subarray(o + 8, o + 8 + len));
    o += 8 + Math.ceil(len / 8) * 8;
  }
  return {
    version,
    virtualSize: be64(head, 24),
    clusterBits: be32(head, 20),
    backingFile,
    encrypted: be32(head, 32) !== 0,
    externalDataFile: (incompatible & 4) !== 0 || dataFileName !== null,
    dataFileName,
    dirty: (incompatible & 1) !== 0,
    corrupt: (incompatible & 2) !== 0,
    unknownIncompatible: incompatible & ~0x1f,
  };
}

export interface IsoInfo {
  volumeId: string;
  /** Size the primary volume descriptor claims, in bytes (0 when unreadable). */
  volumeBytes: number;
}

/** ISO 9660: "CD001" at 0x8001 (primary volume descriptor in sector 16). */
export function parseIso9660(head: Uint8Array): IsoInfo | null {
  if (!ascii(head, 0x8001, "CD001")) return null;
  const pvd = 0x8000;
  const blocks = le32(head, pvd + 80);
  const blockSize = le16(head, pvd + 128);
  const volumeId = head[pvd] === 1 ? String.fromCharCode(...head.subarray(pvd + 40, pvd + 72)).trim() : "";
  return { volumeId, volumeBytes: blocks * blockSize };
}

/**
 * Whether the start of a raw image holds anything a machine could boot or mount: a boot
 * signature (MBR / FAT boot sector), a GPT, ISO 9660 or a common Linux file system. Random
 * bytes or a blank file pass none of these.
 */
export function rawLayout(head: Uint8Array): string | null {
  if (ascii(head, 512, "EFI PART") || ascii(head, 4096, "EFI PART")) return "GPT partition table";
  if (ascii(head, 0x8001, "CD001")) return "ISO 9660";
  if (le16(head, 1024 + 56) === 0xef53) return "ext2/3/4 file system";
  if (ascii(head, 0, "XFSB")) return "XFS file system";
  if (ascii(head, 0x10040, "_BHRfS_M")) return "Btrfs file system";
  if (ascii(head, 0, "hsqs")) return "SquashFS";
  if (head[510] === 0x55 && head[511] === 0xaa)
    return ascii(head, 0x36, "FAT") || ascii(head, 0x52, "FAT32") ? "FAT file system" : "MBR partition table";
  return null;
}
