// A new, empty qcow2 (v3) written in-process: the same bytes `qemu-img create -f qcow2 [-b base -F fmt]
// file size` writes with its defaults (64 KiB clusters, 16-bit refcounts, zlib, no extended L2), without
// a process spawn on the VM start's critical path (ADR 041). Layout, as qemu-img lays it out:
//   cluster 0  header (112 bytes), header extensions, backing file name
//   cluster 1  refcount table (one entry: the refcount block)
//   cluster 2  refcount block (refcount 1 for each metadata cluster)
//   cluster 3… L1 table (all zero: nothing allocated), the file ends right after it
import { promises as fsp } from "node:fs";

const CLUSTER_BITS = 16;
const CLUSTER = 1 << CLUSTER_BITS;
/** one L2 table maps CLUSTER / 8 clusters */
const L2_COVERS = (CLUSTER / 8) * CLUSTER;
const HEADER_LENGTH = 112;
const REFCOUNT_TABLE_AT = CLUSTER;
const REFCOUNT_BLOCK_AT = 2 * CLUSTER;
const L1_AT = 3 * CLUSTER;
/** QEMU refuses to open a qcow2 whose backing file name is longer (qcow2_do_open) */
export const MAX_BACKING_NAME = 1023;
/** one 16-bit refcount block covers CLUSTER / 2 clusters: enough for an L1 of any diskGb the API allows */
const MAX_METADATA_CLUSTERS = CLUSTER / 2;

const EXT_BACKING_FORMAT = 0xe2792aca;
const EXT_FEATURE_TABLE = 0x6803f857;
/** the feature name table qemu-img 7.x writes: [type (0 incompatible, 1 compatible, 2 autoclear), bit, name] */
const FEATURES: ReadonlyArray<[number, number, string]> = [
  [0, 0, "dirty bit"],
  [0, 1, "corrupt bit"],
  [0, 2, "external data file"],
  [0, 3, "compression type"],
  [0, 4, "extended L2 entries"],
  [1, 0, "lazy refcounts"],
  [2, 0, "bitmaps"],
  [2, 1, "raw external data"],
];
const FEATURE_ENTRY = 48;

export interface Qcow2Layout {
  l1Entries: number;
  l1Clusters: number;
  /** bytes of the file: the L1 table is its last structure */
  fileSize: number;
  /** cluster 0: header, extensions, backing file name */
  header: Buffer;
}

/** the backing file formats an overlay may name (img.ts ImageFormat) */
type BackingFormat = "qcow2" | "raw";

const align8 = (n: number) => (n + 7) & ~7;

/** The header cluster's bytes and the sizes of a fresh qcow2 of `sizeBytes` (optionally over `backing`). */
export function qcow2Layout(sizeBytes: number, backing?: { file: string; format: BackingFormat }): Qcow2Layout {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0 || sizeBytes % 512 !== 0)
    throw new Error(`qcow2 size must be a positive multiple of 512 bytes (got ${sizeBytes})`);
  const l1Entries = Math.ceil(sizeBytes / L2_COVERS);
  const l1Clusters = Math.ceil((l1Entries * 8) / CLUSTER);
  if (3 + l1Clusters > MAX_METADATA_CLUSTERS) throw new Error(`qcow2 size ${sizeBytes} is too large`);
  const name = backing ? Buffer.from(backing.file, "utf8") : null;
  if (name && (name.length === 0 || name.length > MAX_BACKING_NAME || name.includes(0)))
    throw new Error(`backing file name must be 1–${MAX_BACKING_NAME} bytes without NUL`);

  const header = Buffer.alloc(CLUSTER);
  header.write("QFI\xfb", 0, "latin1");
  header.writeUInt32BE(3, 4); // version
  header.writeUInt32BE(CLUSTER_BITS, 20);
  header.writeBigUInt64BE(BigInt(sizeBytes), 24);
  header.writeUInt32BE(0, 32); // crypt_method
  header.writeUInt32BE(l1Entries, 36);
  header.writeBigUInt64BE(BigInt(L1_AT), 40);
  header.writeBigUInt64BE(BigInt(REFCOUNT_TABLE_AT), 48);
  header.writeUInt32BE(1, 56); // refcount_table_clusters
  // nb_snapshots, snapshots_offset, incompatible/compatible/autoclear features: 0
  header.writeUInt32BE(4, 96); // refcount_order: 16-bit refcounts
  header.writeUInt32BE(HEADER_LENGTH, 100);
  // byte 104: compression type 0 (zlib), then padding to 112

  let at = HEADER_LENGTH;
  const extension = (type: number, data: Buffer) => {
    header.writeUInt32BE(type, at);
    header.writeUInt32BE(data.length, at + 4);
    data.copy(header, at + 8);
    at += 8 + align8(data.length);
  };
  if (backing) extension(EXT_BACKING_FORMAT, Buffer.from(backing.format, "latin1"));
  const table = Buffer.alloc(FEATURES.length * FEATURE_ENTRY);
  FEATURES.forEach(([type, bit, label], i) => {
    table.writeUInt8(type, i * FEATURE_ENTRY);
    table.writeUInt8(bit, i * FEATURE_ENTRY + 1);
    table.write(label, i * FEATURE_ENTRY + 2, "latin1");
  });
  extension(EXT_FEATURE_TABLE, table);
  at += 8; // end of extensions: type 0, length 0
  if (name) {
    name.copy(header, at);
    header.writeBigUInt64BE(BigInt(at), 8); // backing_file_offset
    header.writeUInt32BE(name.length, 16); // backing_file_size
    at += name.length;
  }
  return { l1Entries, l1Clusters, fileSize: L1_AT + l1Entries * 8, header: header.subarray(0, align8(at)) };
}

/**
 * Writes a fresh qcow2 at `file` (replacing one that is there, as qemu-img does). The caller has
 * checked the backing file (format, size) with `qemu-img info` where it matters: nothing here opens it.
 */
export async function writeQcow2(
  file: string,
  sizeBytes: number,
  backing?: { file: string; format: BackingFormat },
): Promise<void> {
  const layout = qcow2Layout(sizeBytes, backing);
  const refTable = Buffer.alloc(8);
  refTable.writeBigUInt64BE(BigInt(REFCOUNT_BLOCK_AT));
  const metadata = 3 + layout.l1Clusters;
  const refBlock = Buffer.alloc(metadata * 2);
  for (let i = 0; i < metadata; i++) refBlock.writeUInt16BE(1, i * 2);
  // One write of the whole file, zeros included: the space is taken now, as qemu-img takes it, so a
  // full disk fails the create here (507) and not later on the guest's first write.
  const image = Buffer.alloc(layout.fileSize);
  layout.header.copy(image, 0);
  refTable.copy(image, REFCOUNT_TABLE_AT);
  refBlock.copy(image, REFCOUNT_BLOCK_AT);
  const fh = await fsp.open(file, "w", 0o644);
  try {
    // A write that runs out of space part-way returns short; the next one reports ENOSPC.
    for (let done = 0; done < image.length;)
      done += (await fh.write(image, done, image.length - done, done)).bytesWritten;
  } catch (err) {
    // The words qemu-img uses, so a full disk reads the same whichever path wrote the file.
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOSPC") throw Object.assign(new Error(`writing ${file}: No space left on device`), { code });
    throw err;
  } finally {
    await fh.close();
  }
}
