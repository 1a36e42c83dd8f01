// qemu-img for internal qcow2 snapshots of a stopped VM's disk, and flattening a disk (or one of
// its snapshots) into a standalone qcow2. Argv arrays only; every image is opened as qcow2
// explicitly (never probed). Snapshot names reach qemu-img as one argv element, but qemu-img's
// `-l snapshot.name=` is an option string: names are checked against SNAPSHOT_TAG first.
import { execFile } from "node:child_process";
import { QemuImgError, type QemuImgOptions } from "./img";

/** qemu-img info's view of one internal snapshot (QAPI SnapshotInfo). */
export interface ImageSnapshotInfo {
  /** qcow2's own numeric id ("1", "2", ...) */
  id: string;
  name: string;
  "vm-state-size": number;
  "date-sec": number;
  "date-nsec": number;
  "vm-clock-sec": number;
  "vm-clock-nsec": number;
}

/** Tags the agent gives snapshots: never all digits (qemu-img resolves a digit string as an id first). */
export const SNAPSHOT_TAG = /^[A-Za-z][A-Za-z0-9_-]{0,79}$/;

export function assertSnapshotTag(tag: string): void {
  if (!SNAPSHOT_TAG.test(tag)) throw new QemuImgError(`invalid snapshot name ${JSON.stringify(tag)}`, "");
}

function run(args: string[], opts: QemuImgOptions = {}): Promise<string> {
  const bin = opts.qemuImg ?? "qemu-img";
  return new Promise((resolve, reject) => {
    execFile(bin, args, { timeout: opts.timeoutMs ?? 120_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        const detail = (stderr || err.message).trim().split("\n").slice(-3).join(" ");
        reject(new QemuImgError(`qemu-img ${args[0]} failed: ${detail}`, stderr));
      } else resolve(stdout);
    });
  });
}

/** The internal snapshots of a qcow2 (`forceShare`: also while a QEMU holds it). */
export async function listImageSnapshots(
  file: string,
  opts: { forceShare?: boolean } & QemuImgOptions = {},
): Promise<ImageSnapshotInfo[]> {
  const args = ["info", "--output=json", "-f", "qcow2", ...(opts.forceShare ? ["-U"] : []), file];
  const out = await run(args, opts);
  let info: { snapshots?: ImageSnapshotInfo[] };
  try {
    info = JSON.parse(out) as { snapshots?: ImageSnapshotInfo[] };
  } catch {
    throw new QemuImgError(`qemu-img info returned invalid JSON for ${file}`, out.slice(0, 500));
  }
  return info.snapshots ?? [];
}

/**
 * `qemu-img snapshot -c|-a|-d`: create, apply (revert the disk to it) or delete an internal
 * snapshot. Needs the image unlocked (no QEMU running on it).
 */
export async function imageSnapshot(
  op: "create" | "apply" | "delete",
  file: string,
  tag: string,
  opts: QemuImgOptions = {},
): Promise<void> {
  assertSnapshotTag(tag);
  const flag = { create: "-c", apply: "-a", delete: "-d" }[op];
  // `qemu-img snapshot` has no -f: --image-opts names the driver so the format is never probed.
  await run(
    ["snapshot", "-q", flag, tag, "--image-opts", `driver=qcow2,file.filename=${file.replace(/,/g, ",,")}`],
    opts,
  );
}

/**
 * A standalone qcow2 copy of `src` at `dest`: the backing chain flattened, with `snapshot` that
 * snapshot's contents instead of the current ones. `forceShare` reads an image a QEMU holds (only
 * sound for a snapshot: its clusters do not change while the VM runs).
 */
export async function flattenToQcow2(
  src: string,
  dest: string,
  opts: { snapshot?: string; forceShare?: boolean } & QemuImgOptions = {},
): Promise<void> {
  const args = ["convert", "-q", "-f", "qcow2", "-O", "qcow2"];
  if (opts.forceShare) args.push("-U");
  if (opts.snapshot !== undefined) {
    assertSnapshotTag(opts.snapshot);
    args.push("-l", `snapshot.name=${opts.snapshot}`);
  }
  args.push(src, dest);
  await run(args, opts);
}
