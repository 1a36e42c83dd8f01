// qemu-img wrappers. execFile with argv arrays only; images are never format-probed blindly
// when the caller knows the format (a raw image could otherwise pose as qcow2).
import { execFile } from "node:child_process";
import { promises as fsp } from "node:fs";
import { MAX_BACKING_NAME, writeQcow2 } from "./qcow2";

export type ImageFormat = "qcow2" | "raw";

export interface QemuImgInfo {
  filename: string;
  format: string;
  "virtual-size": number;
  "actual-size"?: number;
  "backing-filename"?: string;
  "full-backing-filename"?: string;
  "backing-filename-format"?: string;
  "dirty-flag"?: boolean;
}

export class QemuImgError extends Error {
  constructor(
    message: string,
    readonly stderr: string,
  ) {
    super(message);
    this.name = "QemuImgError";
  }
}

export interface QemuImgOptions {
  /** path or name of qemu-img (default "qemu-img" from PATH) */
  qemuImg?: string;
  timeoutMs?: number;
}

function run(args: string[], opts: QemuImgOptions = {}): Promise<string> {
  const bin = opts.qemuImg ?? "qemu-img";
  return new Promise((resolve, reject) => {
    execFile(bin, args, { timeout: opts.timeoutMs ?? 60_000, maxBuffer: 8 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        const detail = (stderr || err.message).trim().split("\n").slice(-3).join(" ");
        reject(new QemuImgError(`qemu-img ${args[0]} failed: ${detail}`, stderr));
      } else resolve(stdout);
    });
  });
}

const GiB = 1024 * 1024 * 1024;

/**
 * New qcow2 at `path`. With `base`, a copy-on-write overlay whose backing file is `base` (absolute
 * path, explicit `-F` format); without, a blank disk. `sizeGb` omitted = same size as the base.
 * With a size, the file is written in-process (qcow2.ts: qemu-img's own layout, one process spawn
 * fewer on a VM start); the base must exist, its format is not probed here (callers that take it
 * from a spec check it with imageInfo first). Without a size, qemu-img reads the base's.
 */
export async function createQcow2(
  path: string,
  opts: { base?: string; baseFormat?: ImageFormat; sizeGb?: number } & QemuImgOptions = {},
): Promise<void> {
  const args = ["create", "-q", "-f", "qcow2"];
  if (opts.base) {
    if (!opts.baseFormat) throw new Error("baseFormat is required with a backing file");
    args.push("-b", opts.base, "-F", opts.baseFormat);
  } else if (!opts.sizeGb) {
    throw new Error("sizeGb is required for a blank disk");
  }
  if (opts.sizeGb && Buffer.byteLength(opts.base ?? "") <= MAX_BACKING_NAME) {
    if (opts.base) await assertBaseExists(opts.base);
    const backing = opts.base ? { file: opts.base, format: opts.baseFormat! } : undefined;
    await writeQcow2(path, gbToBytes(opts.sizeGb), backing);
    return;
  }
  args.push(path);
  if (opts.sizeGb) args.push(`${opts.sizeGb}G`);
  await run(args, opts);
}

/** qemu-img create refuses a missing backing file; so does the in-process writer. */
async function assertBaseExists(base: string): Promise<void> {
  const exists = await fsp.stat(base).then(
    () => true,
    () => false,
  );
  if (!exists) throw new QemuImgError(`qemu-img create failed: Could not open backing file '${base}'`, "");
}

/** `qemu-img info --output=json`. `forceShare` reads images a running QEMU holds locked. */
export async function imageInfo(
  path: string,
  opts: { format?: ImageFormat; forceShare?: boolean } & QemuImgOptions = {},
): Promise<QemuImgInfo> {
  const args = ["info", "--output=json"];
  if (opts.format) args.push("-f", opts.format);
  if (opts.forceShare) args.push("-U");
  args.push(path);
  const out = await run(args, opts);
  try {
    return JSON.parse(out) as QemuImgInfo;
  } catch {
    throw new QemuImgError(`qemu-img info returned invalid JSON for ${path}`, out.slice(0, 500));
  }
}

/** Grow an image to `sizeGb` (never shrinks: shrinking destroys guest data). */
export async function resizeImage(
  path: string,
  sizeGb: number,
  opts: { format?: ImageFormat } & QemuImgOptions = {},
): Promise<void> {
  const info = await imageInfo(path, opts);
  const target = sizeGb * GiB;
  if (target < info["virtual-size"]) {
    throw new QemuImgError(`refusing to shrink ${path} from ${info["virtual-size"]} to ${target} bytes`, "");
  }
  if (target === info["virtual-size"]) return;
  await run(["resize", "-q", "-f", opts.format ?? "qcow2", path, `${sizeGb}G`], opts);
}

/**
 * A standalone qcow2 copy of `src` at `dest` (no backing file: the copy outlives the source).
 * Large images take a while: the default timeout is an hour.
 */
export async function convertToQcow2(
  src: string,
  dest: string,
  opts: { format: ImageFormat } & QemuImgOptions,
): Promise<void> {
  await run(["convert", "-q", "-f", opts.format, "-O", "qcow2", src, dest], {
    ...opts,
    timeoutMs: opts.timeoutMs ?? 3600_000,
  });
}

export function gbToBytes(gb: number): number {
  return gb * GiB;
}
