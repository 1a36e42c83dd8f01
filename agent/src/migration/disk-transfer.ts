// Cold migration (ADR 035): a stopped VM's disks travel as whole qcow2 files through the
// controller. The source sends a standalone copy (the root flattened off its image, a volume as
// is) with its SHA-256; the target streams the body to a temporary file, checks length, SHA-256
// and the qcow2 itself (no backing file), and only then keeps it: the root staged for the
// following PUT /v1/vms/:id, a volume in the VolumeStore. Nothing is kept on any mismatch.
import crypto from "node:crypto";
import { createReadStream, createWriteStream, promises as fsp } from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { DiskName } from "../../../lib/schemas/agent-migration";
import { imageInfo, listImageSnapshots } from "../qemu";
import { run } from "../util";
import { exportDisk } from "../vm/disk-export";
import { AgentError, errMessage } from "../vm/errors";
import { isRunning } from "../vm/snapshots";
import { incomingDir, stagedRootPath } from "../vm/staged-disk";
import type { MigrationHost } from "./host";

/** The schema's largest volume (64 TiB): no disk body may declare more. */
export const MAX_DISK_BYTES = 64 * 1024 ** 4;

export interface DiskDownload {
  path: string;
  sizeBytes: number;
  sha256: string;
  /** removes the temporary copy (root); a volume's own file is left alone */
  cleanup(): Promise<void>;
}

/** A body that does not match what was declared: 400, not the 422 of a refused spec. */
export class TransferError extends AgentError {
  constructor(message: string) {
    super("invalid", message);
  }
  override get httpStatus(): number {
    return 400;
  }
}

export async function sha256File(file: string): Promise<string> {
  const hash = crypto.createHash("sha256");
  await pipeline(createReadStream(file), hash);
  return hash.digest("hex");
}

/** GET /v1/vms/:id/disks/:disk: the disk of a stopped VM, hashed before a byte is sent. */
export async function diskForTransfer(host: MigrationHost, id: string, disk: DiskName): Promise<DiskDownload> {
  return host.withLock(id, async () => {
    const vm = host.vms.get(id);
    if (!vm) throw new AgentError("not_found", `no VM ${id} on this host`);
    if (await isRunning(host.ctx, vm))
      throw new AgentError("conflict", `VM ${id} is running: a running VM moves live, its disks are not copied`);
    if (disk === "root") {
      // The flattened copy carries no snapshots: refuse rather than lose them silently.
      const snaps = await listImageSnapshots(vm.paths.disk, { forceShare: true, qemuImg: host.ctx.opts.qemuImg });
      if (snaps.length > 0)
        throw new AgentError(
          "conflict",
          `VM ${id} has ${snaps.length} snapshot(s), which do not move: delete its ${snaps.length} snapshots first`,
        );
      const exported = await exportDisk(host.ctx, vm, {});
      try {
        return { ...exported, sha256: await sha256File(exported.path) };
      } catch (err) {
        await exported.cleanup().catch(() => {});
        throw err;
      }
    }
    if (!vm.spec.volumes.some((v) => v.id === disk))
      throw new AgentError("not_found", `volume ${disk} is not attached to VM ${id}`);
    const file = host.ctx.volumes.pathFor(disk);
    const { size } = await fsp.stat(file).catch(() => {
      throw new AgentError("not_found", `volume ${disk} has no file on this host`);
    });
    return { path: file, sizeBytes: size, sha256: await sha256File(file), cleanup: async () => {} };
  });
}

/**
 * PUT /v1/vms/:id/disks/:disk: stores `body` when its length and SHA-256 match the headers and it
 * is a sound standalone qcow2. 409 when the VM (root) or the volume already exists here.
 */
export async function receiveDisk(
  host: MigrationHost,
  id: string,
  disk: DiskName,
  body: Readable,
  declared: { sha256: string; sizeBytes: number },
): Promise<{ id: string; disk: DiskName; sizeBytes: number; sha256: string }> {
  const { ctx } = host;
  const refuseExisting = async () => {
    if (disk === "root" && host.vms.has(id)) throw new AgentError("conflict", `VM ${id} already exists on this host`);
    if (disk !== "root" && (await ctx.volumes.exists(disk)))
      throw new AgentError("conflict", `volume ${disk} already exists on this host`);
  };
  await refuseExisting();
  if (declared.sizeBytes > MAX_DISK_BYTES) throw new TransferError(`a disk is at most ${MAX_DISK_BYTES} bytes`);
  const dir = incomingDir(ctx);
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  const fs = await fsp.statfs(dir);
  if (fs.bavail * fs.bsize < declared.sizeBytes)
    throw new AgentError(
      "insufficient_storage",
      `not enough free space for ${declared.sizeBytes} bytes of disk ${disk}`,
    );
  const tmp = path.join(dir, `.${id}-${disk}-${crypto.randomBytes(4).toString("hex")}.part`);
  try {
    const got = await streamToFile(body, tmp, declared.sizeBytes);
    if (got.sizeBytes !== declared.sizeBytes)
      throw new TransferError(`disk ${disk}: received ${got.sizeBytes} bytes, ${declared.sizeBytes} declared`);
    if (got.sha256 !== declared.sha256)
      throw new TransferError(`disk ${disk}: SHA-256 ${got.sha256} does not match the declared ${declared.sha256}`);
    await checkQcow2(ctx.opts.qemuImg, tmp, disk);
    if (disk === "root") {
      await host.withLock(id, async () => {
        await refuseExisting();
        await fsp.mkdir(path.dirname(stagedRootPath(ctx, id)), { recursive: true, mode: 0o700 });
        await fsp.rename(tmp, stagedRootPath(ctx, id));
      });
    } else {
      await host.withVolumesLock(async () => {
        await refuseExisting();
        await fsp.mkdir(ctx.volumes.dir, { recursive: true, mode: 0o700 });
        await fsp.rename(tmp, ctx.volumes.pathFor(disk));
      });
    }
    ctx.log("disk received", { id, disk, bytes: got.sizeBytes });
    return { id, disk, sizeBytes: got.sizeBytes, sha256: got.sha256 };
  } finally {
    await fsp.rm(tmp, { force: true }).catch(() => {});
  }
}

const UPLOAD_IDLE_MS = 60_000;

/** Writes at most `limit` bytes (one more is an error), hashing on the way. */
async function streamToFile(
  body: Readable,
  file: string,
  limit: number,
): Promise<{ sizeBytes: number; sha256: string }> {
  const hash = crypto.createHash("sha256");
  let size = 0;
  // No cap on the whole upload (a cold move streams GiB, ADR 035): a sender silent for a minute is cut instead.
  let idle: NodeJS.Timeout | undefined;
  const armIdle = () => {
    clearTimeout(idle);
    idle = setTimeout(
      () => meter.destroy(new TransferError(`disk upload stalled: no data for ${UPLOAD_IDLE_MS / 1000} s`)),
      UPLOAD_IDLE_MS,
    );
  };
  const meter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      armIdle();
      size += chunk.length;
      if (size > limit) return cb(new TransferError(`body longer than the declared ${limit} bytes`));
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  try {
    armIdle();
    await pipeline(body, meter, createWriteStream(file, { mode: 0o600 }));
  } catch (err) {
    if (err instanceof AgentError) throw err;
    throw new TransferError(`disk upload interrupted: ${errMessage(err)}`);
  } finally {
    clearTimeout(idle);
  }
  return { sizeBytes: size, sha256: hash.digest("hex") };
}

/** A qcow2 qemu-img accepts, standing alone: a backing file could point anywhere on this host. */
async function checkQcow2(qemuImg: string | undefined, file: string, disk: string): Promise<void> {
  const info = await imageInfo(file, { format: "qcow2", qemuImg }).catch((err: unknown) => {
    throw new TransferError(`disk ${disk} is not a qcow2 image: ${errMessage(err)}`);
  });
  if (info["backing-filename"])
    throw new TransferError(`disk ${disk} has a backing file; a standalone qcow2 is expected`);
  await run(qemuImg ?? "qemu-img", ["check", "-q", "-f", "qcow2", file], { timeoutMs: 30 * 60_000 }).catch(
    (err: unknown) => {
      throw new TransferError(`disk ${disk} failed qemu-img check: ${errMessage(err)}`);
    },
  );
}
