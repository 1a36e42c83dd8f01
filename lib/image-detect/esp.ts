// Finds UEFI removable-media boot loaders (EFI/BOOT/BOOT<arch>.EFI) in a raw disk or ISO image,
// which tells us both that the image boots with UEFI and which CPU it is built for: firmware
// picks the loader by that exact name. Pure and browser-safe: it reads through a `ReadAt`
// callback, so the server can back it with a file or `qemu-img dd`, the browser with File.slice.
import type { Arch } from "../arch";
import { detectKernelArch } from "./kernel";

/** Reads `length` bytes at `offset`; may return fewer at the end of the image. */
export type ReadAt = (offset: number, length: number) => Promise<Uint8Array>;

export interface EfiBootLoader {
  /** Path as stored, e.g. "EFI/BOOT/BOOTAA64.EFI" (long name when there is one). */
  path: string;
  /** Architecture the name stands for, when Polyarch supports it (and the PE header agrees). */
  arch: Arch | null;
  /** Architecture the name stands for, in words ("x86_64", "ARM 32-bit", ...). */
  archName: string;
  /** Where it was found, e.g. "GPT partition 1 (EFI system partition)" or "El Torito EFI boot image". */
  location: string;
  /** Set when the PE header contradicts the name. */
  note?: string;
}

export interface EspScan {
  partitionTable: "gpt" | "mbr" | "none";
  /** FAT file systems looked at (ESPs first). */
  scanned: string[];
  loaders: EfiBootLoader[];
  /** Distinct supported arches among `loaders`. */
  arches: Arch[];
  notes: string[];
}

export const ESP_TYPE_GUID = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
const BASIC_DATA_GUID = "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7";
const MBR_FAT_TYPES = new Set([0x01, 0x04, 0x06, 0x0b, 0x0c, 0x0e]);

// UEFI spec §3.5.1.1: removable-media boot file name per machine type.
const LOADER_NAMES: Record<string, { archName: string; arch: Arch | null }> = {
  "BOOTX64.EFI": { archName: "x86_64", arch: "x86_64" },
  "BOOTAA64.EFI": { archName: "aarch64", arch: "aarch64" },
  "BOOTIA32.EFI": { archName: "x86 32-bit (i386)", arch: null },
  "BOOTARM.EFI": { archName: "ARM 32-bit", arch: null },
  "BOOTIA64.EFI": { archName: "Itanium", arch: null },
  "BOOTRISCV64.EFI": { archName: "RISC-V 64-bit", arch: null },
  "BOOTLOONGARCH64.EFI": { archName: "LoongArch 64-bit", arch: null },
};

const MAX_PARTITIONS_SCANNED = 8;
const MAX_DIR_BYTES = 1 << 20;

const u16 = (b: Uint8Array, o: number) => (o + 2 <= b.length ? b[o]! | (b[o + 1]! << 8) : 0);
const u32 = (b: Uint8Array, o: number) =>
  o + 4 <= b.length ? (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0 : 0;
const u64 = (b: Uint8Array, o: number) => u32(b, o) + u32(b, o + 4) * 2 ** 32;
const ascii = (b: Uint8Array, o: number, s: string) => {
  if (o + s.length > b.length) return false;
  for (let i = 0; i < s.length; i++) if (b[o + i] !== s.charCodeAt(i)) return false;
  return true;
};

/** GPT GUIDs are stored mixed-endian: first three fields little-endian, the rest as bytes. */
export function guidToString(b: Uint8Array, o: number): string {
  const h = (i: number) => b[o + i]!.toString(16).padStart(2, "0");
  const part = (idx: number[]) => idx.map(h).join("");
  return `${part([3, 2, 1, 0])}-${part([5, 4])}-${part([7, 6])}-${part([8, 9])}-${part([10, 11, 12, 13, 14, 15])}`.toUpperCase();
}

interface DirEntry {
  name: string;
  shortName: string;
  isDir: boolean;
  cluster: number;
  size: number;
}

interface Fat {
  type: 12 | 16 | 32;
  readDir(cluster: number | "root"): Promise<DirEntry[]>;
  readFileHead(cluster: number, size: number, max: number): Promise<Uint8Array>;
}

/** Opens a FAT12/16/32 file system at `base`, or returns null when the boot sector is not one. */
async function openFat(read: ReadAt, base: number): Promise<Fat | null> {
  const bs = await read(base, 512);
  if (bs.length < 512 || bs[510] !== 0x55 || bs[511] !== 0xaa) return null;
  const bps = u16(bs, 0x0b);
  const spc = bs[0x0d]!;
  const reserved = u16(bs, 0x0e);
  const nfats = bs[0x10]!;
  const rootEntries = u16(bs, 0x11);
  const totalSectors = u16(bs, 0x13) || u32(bs, 0x20);
  const fatSize = u16(bs, 0x16) || u32(bs, 0x24);
  if (![512, 1024, 2048, 4096].includes(bps) || spc === 0 || (spc & (spc - 1)) !== 0 || reserved === 0) return null;
  if (nfats < 1 || nfats > 4 || fatSize === 0 || totalSectors === 0) return null;
  const rootDirSectors = Math.ceil((rootEntries * 32) / bps);
  const firstData = reserved + nfats * fatSize + rootDirSectors;
  if (firstData >= totalSectors) return null;
  const clusters = Math.floor((totalSectors - firstData) / spc);
  // The FAT type is defined by the cluster count alone (Microsoft FAT spec), not the label.
  const type: 12 | 16 | 32 = clusters < 4085 ? 12 : clusters < 65525 ? 16 : 32;
  const clusterBytes = bps * spc;
  const fatBase = base + reserved * bps;
  const dataBase = base + firstData * bps;
  const rootCluster = type === 32 ? u32(bs, 0x2c) : 0;

  async function next(cluster: number): Promise<number | null> {
    let v: number;
    if (type === 12) {
      const off = cluster + (cluster >> 1);
      const e = u16(await read(fatBase + off, 2), 0);
      v = cluster & 1 ? e >> 4 : e & 0xfff;
      return v >= 0xff8 || v < 2 ? null : v;
    }
    if (type === 16) {
      v = u16(await read(fatBase + cluster * 2, 2), 0);
      return v >= 0xfff8 || v < 2 ? null : v;
    }
    v = u32(await read(fatBase + cluster * 4, 4), 0) & 0x0fffffff;
    return v >= 0x0ffffff8 || v < 2 ? null : v;
  }

  async function readChain(first: number, maxBytes: number): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    const seen = new Set<number>();
    let total = 0;
    for (
      let c: number | null = first;
      c !== null && c >= 2 && c < clusters + 2 && total < maxBytes;
      c = await next(c)
    ) {
      if (seen.has(c)) break; // a loop in the FAT: corrupt, stop rather than spin
      seen.add(c);
      const chunk = await read(dataBase + (c - 2) * clusterBytes, clusterBytes);
      parts.push(chunk);
      total += chunk.length;
    }
    const out = new Uint8Array(Math.min(total, maxBytes));
    let pos = 0;
    for (const p of parts) {
      const n = Math.min(p.length, out.length - pos);
      out.set(p.subarray(0, n), pos);
      pos += n;
    }
    return out;
  }

  return {
    type,
    async readDir(cluster) {
      if (cluster === "root" && type !== 32)
        return parseDir(await read(base + (reserved + nfats * fatSize) * bps, rootEntries * 32));
      return parseDir(await readChain(cluster === "root" ? rootCluster : cluster, MAX_DIR_BYTES));
    },
    readFileHead: (cluster, size, max) => readChain(cluster, Math.min(size, max)),
  };
}

function lfnChecksum(b: Uint8Array, o: number): number {
  let sum = 0;
  for (let i = 0; i < 11; i++) sum = (((sum & 1) << 7) + (sum >> 1) + b[o + i]!) & 0xff;
  return sum;
}

function parseDir(b: Uint8Array): DirEntry[] {
  const out: DirEntry[] = [];
  let lfn: string[] = [];
  let lfnSum = -1;
  for (let o = 0; o + 32 <= b.length; o += 32) {
    const first = b[o]!;
    if (first === 0) break;
    const attr = b[o + 11]!;
    if (first === 0xe5) {
      lfn = [];
      continue;
    }
    if (attr === 0x0f) {
      // Long-name pieces come last-first; each holds 13 UTF-16 units at fixed offsets.
      const seq = first & 0x1f;
      if (first & 0x40) lfn = [];
      let s = "";
      for (const off of [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30]) {
        const c = u16(b, o + off);
        if (c === 0 || c === 0xffff) break;
        s += String.fromCharCode(c);
      }
      lfn[seq - 1] = s;
      lfnSum = b[o + 13]!;
      continue;
    }
    if (attr & 0x08) {
      lfn = [];
      continue; // volume label
    }
    const nt = b[o + 12]!;
    let base = String.fromCharCode(...b.subarray(o, o + 8)).trimEnd();
    if (first === 0x05) base = "\u00e5" + base.slice(1);
    let ext = String.fromCharCode(...b.subarray(o + 8, o + 11)).trimEnd();
    if (nt & 0x08) base = base.toLowerCase();
    if (nt & 0x10) ext = ext.toLowerCase();
    const shortName = ext ? `${base}.${ext}` : base;
    const longName = lfn.length && lfnSum === lfnChecksum(b, o) ? lfn.join("") : "";
    lfn = [];
    if (shortName === "." || shortName === "..") continue;
    out.push({
      name: longName || shortName,
      shortName,
      isDir: (attr & 0x10) !== 0,
      cluster: (u16(b, o + 20) << 16) | u16(b, o + 26),
      size: u32(b, o + 28),
    });
  }
  return out;
}

const sameName = (e: DirEntry, want: string) => e.name.toUpperCase() === want || e.shortName.toUpperCase() === want;

/** Lists EFI/BOOT/BOOT*.EFI in one FAT file system. */
async function loadersInFat(
  read: ReadAt,
  base: number,
  location: string,
  notes: string[],
): Promise<EfiBootLoader[] | null> {
  const fat = await openFat(read, base);
  if (!fat) return null;
  const root = await fat.readDir("root");
  const efi = root.find((e) => e.isDir && sameName(e, "EFI"));
  if (!efi) return [];
  const efiDir = await fat.readDir(efi.cluster);
  const boot = efiDir.find((e) => e.isDir && sameName(e, "BOOT"));
  if (!boot) return [];
  const found: EfiBootLoader[] = [];
  for (const e of await fat.readDir(boot.cluster)) {
    if (e.isDir) continue;
    const known = LOADER_NAMES[e.name.toUpperCase()] ?? LOADER_NAMES[e.shortName.toUpperCase()];
    if (!known) continue;
    const loader: EfiBootLoader = {
      path: `${efi.name}/${boot.name}/${e.name}`,
      arch: known.arch,
      archName: known.archName,
      location,
    };
    // Cross-check the name against the PE header: firmware refuses a loader built for another CPU.
    if (e.size > 0 && e.cluster >= 2) {
      const pe = detectKernelArch(await fat.readFileHead(e.cluster, e.size, 64 * 1024));
      if (pe.kind.startsWith("PE/COFF") && pe.arch !== known.arch) {
        loader.note = `${loader.path} is named for ${known.archName} but its header says ${pe.kind}: firmware will not run it`;
        loader.arch = null;
        notes.push(loader.note);
      }
    }
    found.push(loader);
  }
  return found;
}

interface Candidate {
  offset: number;
  location: string;
  esp: boolean;
}

async function partitionCandidates(
  read: ReadAt,
): Promise<{ table: EspScan["partitionTable"]; list: Candidate[]; notes: string[] }> {
  const notes: string[] = [];
  const head = await read(0, 512);
  // GPT may use 512- or 4096-byte logical sectors; its header sits in LBA 1 either way.
  for (const sector of [512, 4096]) {
    const hdr = await read(sector, 92);
    if (!ascii(hdr, 0, "EFI PART")) continue;
    const entriesLba = u64(hdr, 72);
    const count = Math.min(u32(hdr, 80), 256);
    const size = u32(hdr, 84);
    if (size < 128 || size > 4096 || entriesLba < 2) {
      notes.push("GPT header has an invalid partition entry array");
      return { table: "gpt", list: [], notes };
    }
    const table = await read(entriesLba * sector, count * size);
    const esps: Candidate[] = [];
    const others: Candidate[] = [];
    for (let i = 0; i < count; i++) {
      const o = i * size;
      if (o + 48 > table.length) break;
      const type = guidToString(table, o);
      if (type === "00000000-0000-0000-0000-000000000000") continue;
      const first = u64(table, o + 32);
      if (type === ESP_TYPE_GUID)
        esps.push({ offset: first * sector, location: `GPT partition ${i + 1} (EFI system partition)`, esp: true });
      else if (type === BASIC_DATA_GUID)
        others.push({ offset: first * sector, location: `GPT partition ${i + 1} (basic data)`, esp: false });
    }
    return { table: "gpt", list: [...esps, ...others], notes };
  }
  if (head.length === 512 && head[510] === 0x55 && head[511] === 0xaa) {
    // A FAT boot sector also ends in 55 AA: a disk that is one bare FAT file system ("superfloppy").
    if (ascii(head, 0x36, "FAT") || ascii(head, 0x52, "FAT32"))
      return {
        table: "none",
        list: [{ offset: 0, location: "whole disk (FAT, no partition table)", esp: false }],
        notes,
      };
    const esps: Candidate[] = [];
    const others: Candidate[] = [];
    for (let i = 0; i < 4; i++) {
      const o = 446 + i * 16;
      const type = head[o + 4]!;
      const start = u32(head, o + 8) * 512;
      if (type === 0 || start === 0) continue;
      if (type === 0xef)
        esps.push({ offset: start, location: `MBR partition ${i + 1} (EFI system partition, type 0xEF)`, esp: true });
      else if (MBR_FAT_TYPES.has(type))
        others.push({
          offset: start,
          location: `MBR partition ${i + 1} (FAT, type 0x${type.toString(16).toUpperCase().padStart(2, "0")})`,
          esp: false,
        });
    }
    return { table: "mbr", list: [...esps, ...others], notes };
  }
  return { table: "none", list: [], notes };
}

/** The FAT image behind an ISO's El Torito EFI boot entry (platform 0xEF), if any. */
async function elToritoEfiImage(read: ReadAt): Promise<number | null> {
  for (let sector = 16; sector < 32; sector++) {
    const vd = await read(sector * 2048, 2048);
    if (vd.length < 2048 || !ascii(vd, 1, "CD001")) return null;
    if (vd[0] === 0xff) return null; // set terminator
    if (vd[0] !== 0 || !ascii(vd, 7, "EL TORITO SPECIFICATION")) continue;
    const cat = await read(u32(vd, 0x47) * 2048, 2048);
    if (cat[0] !== 0x01 || cat[30] !== 0x55 || cat[31] !== 0xaa) return null;
    let platform = cat[1]!;
    // Entry 1 is the default entry (for the validation entry's platform); then section headers.
    for (let o = 32; o + 32 <= cat.length; o += 32) {
      const t = cat[o]!;
      if (t === 0x90 || t === 0x91) platform = cat[o + 1]!;
      else if (t === 0x88 && platform === 0xef) return u32(cat, o + 8) * 2048;
      else if (t === 0) break;
    }
    return null;
  }
  return null;
}

/** Scans a raw disk/ISO image for UEFI removable-media boot loaders. */
export async function scanEfiBootLoaders(read: ReadAt): Promise<EspScan> {
  const { table, list, notes } = await partitionCandidates(read);
  const isoEfi = await elToritoEfiImage(read);
  if (isoEfi !== null) list.push({ offset: isoEfi, location: "El Torito EFI boot image", esp: true });
  const scanned: string[] = [];
  const loaders: EfiBootLoader[] = [];
  const seenOffsets = new Set<number>();
  for (const c of list.slice(0, MAX_PARTITIONS_SCANNED)) {
    if (seenOffsets.has(c.offset)) continue; // hybrid ISOs point GPT/MBR and El Torito at the same image
    seenOffsets.add(c.offset);
    const found = await loadersInFat(read, c.offset, c.location, notes);
    if (found === null) {
      if (c.esp) notes.push(`${c.location} does not hold a FAT file system we can read`);
      continue;
    }
    scanned.push(c.location);
    loaders.push(...found);
  }
  const arches = [...new Set(loaders.map((l) => l.arch).filter((a): a is Arch => a !== null))];
  return { partitionTable: table, scanned, loaders, arches, notes };
}

/** A ReadAt over bytes already in memory (tests, or a browser that read the head of a file). */
export function bytesReader(bytes: Uint8Array): ReadAt {
  return async (offset, length) =>
    bytes.subarray(Math.min(offset, bytes.length), Math.min(offset + length, bytes.length));
}
