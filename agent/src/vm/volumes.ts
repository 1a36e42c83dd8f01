// Data volumes on this host: one qcow2 file per volume in <stateDir>/volumes/<id>.qcow2. A volume
// is created blank or as a copy of an image (qemu-img convert: never a backing file, so the image
// cache may evict the image), grows but never shrinks, and outlives every VM it was attached to.
// Which VM a volume is attached to is the VMs' specs' business (VmManager); this file is storage only.
import crypto from "node:crypto";
import { promises as fsp } from "node:fs";
import path from "node:path";
import { safeIdSchema, type VolumeSpec } from "../../../lib/schemas/agent-api";
import { convertToQcow2, createQcow2, gbToBytes, imageInfo, resizeImage } from "../qemu";
import { AgentError, errMessage, toAgentError, zodMessage } from "./errors";
import type { ResolvedImage } from "./types";

const SUFFIX = ".qcow2";

export interface VolumeFileInfo {
  id: string;
  sizeGb: number;
  /** bytes the file takes on disk */
  allocatedBytes: number;
}

export interface VolumeStoreOptions {
  stateDir: string;
  qemuImg?: string;
  /** the image cache: a source image's local file (downloaded if needed) */
  resolveImage: (ref: {
    type: "disk";
    imageId: string;
    sha256?: string;
    format: "qcow2" | "raw";
    firmware: "bios";
  }) => Promise<ResolvedImage>;
}

export class VolumeStore {
  readonly dir: string;

  constructor(private readonly opts: VolumeStoreOptions) {
    this.dir = path.join(path.resolve(opts.stateDir), "volumes");
  }

  /** The volume's file; the id is validated again here because it becomes a file name. */
  pathFor(id: string): string {
    const r = safeIdSchema.safeParse(id);
    if (!r.success) throw new AgentError("invalid", `invalid volume id: ${zodMessage(r.error.issues)}`);
    return path.join(this.dir, `${r.data}${SUFFIX}`);
  }

  /** Temporary files of creates an earlier agent did not finish (call before serving requests). */
  async removeLeftovers(): Promise<void> {
    for (const name of await fsp.readdir(this.dir).catch(() => [] as string[]))
      if (name.startsWith(".") && name.endsWith(".part")) await fsp.rm(path.join(this.dir, name), { force: true });
  }

  async exists(id: string): Promise<boolean> {
    return fsp
      .stat(this.pathFor(id))
      .then((st) => st.isFile())
      .catch(() => false);
  }

  async ids(): Promise<string[]> {
    const names = await fsp.readdir(this.dir).catch(() => [] as string[]);
    return names
      .filter((n) => n.endsWith(SUFFIX))
      .map((n) => n.slice(0, -SUFFIX.length))
      .filter((id) => safeIdSchema.safeParse(id).success)
      .sort();
  }

  /** Size and allocation; `-U` because a running QEMU holds attached volumes locked. */
  async info(id: string): Promise<VolumeFileInfo> {
    const file = this.pathFor(id);
    let info;
    try {
      info = await imageInfo(file, { format: "qcow2", forceShare: true, qemuImg: this.opts.qemuImg });
    } catch (err) {
      if (!(await this.exists(id))) throw new AgentError("not_found", `no volume ${id} on this host`);
      throw new AgentError("unavailable", `volume ${id} is unreadable: ${errMessage(err)}`);
    }
    const allocatedBytes = await fsp
      .stat(file)
      .then((st) => st.blocks * 512)
      .catch(() => 0);
    return { id, sizeGb: Math.ceil(info["virtual-size"] / gbToBytes(1)), allocatedBytes };
  }

  /**
   * Makes the file of a new volume, complete or not at all: it is built under a temporary name
   * and renamed into place. Returns false when the volume appeared meanwhile (a concurrent PUT
   * of the same id won): the caller then treats the PUT as one for an existing volume.
   * `commit` runs just before the rename, under the caller's lock (it re-checks existence).
   */
  async create(
    id: string,
    spec: VolumeSpec,
    commit: (place: () => Promise<boolean>) => Promise<boolean>,
  ): Promise<boolean> {
    const file = this.pathFor(id);
    await fsp.mkdir(this.dir, { recursive: true, mode: 0o700 });
    const tmp = path.join(this.dir, `.${id}.${crypto.randomBytes(4).toString("hex")}.part`);
    try {
      if (spec.source) await this.copyImage(spec, tmp);
      else await createQcow2(tmp, { sizeGb: spec.sizeGb, qemuImg: this.opts.qemuImg });
      return await commit(async () => {
        if (await this.exists(id)) return false;
        await fsp.rename(tmp, file);
        return true;
      });
    } catch (err) {
      throw toAgentError(err, `could not create volume ${id}`);
    } finally {
      await fsp.rm(tmp, { force: true }).catch(() => {});
    }
  }

  private async copyImage(spec: VolumeSpec, tmp: string): Promise<void> {
    const src = spec.source!;
    let resolved: ResolvedImage;
    try {
      resolved = await this.opts.resolveImage({
        type: "disk",
        imageId: src.imageId,
        sha256: src.sha256,
        format: src.format,
        firmware: "bios",
      });
    } catch (err) {
      throw toAgentError(err, `image ${src.imageId} is not available on this host`);
    }
    if (!resolved.disk) throw new AgentError("unavailable", `image ${src.imageId} has no disk file`);
    let info;
    try {
      info = await imageInfo(resolved.disk, { format: src.format, forceShare: true, qemuImg: this.opts.qemuImg });
    } catch (err) {
      throw new AgentError("unavailable", `image ${src.imageId} is unreadable: ${errMessage(err)}`);
    }
    if (info["virtual-size"] > gbToBytes(spec.sizeGb)) {
      const gb = Math.ceil(info["virtual-size"] / gbToBytes(1));
      throw new AgentError("invalid", `image ${src.imageId} needs a ${gb} GiB volume; sizeGb is ${spec.sizeGb}`);
    }
    await convertToQcow2(resolved.disk, tmp, { format: src.format, qemuImg: this.opts.qemuImg });
    await resizeImage(tmp, spec.sizeGb, { qemuImg: this.opts.qemuImg });
  }

  /** Grows a volume no QEMU has open (a running VM's volume grows with block_resize instead). */
  async growOffline(id: string, sizeGb: number): Promise<void> {
    try {
      await resizeImage(this.pathFor(id), sizeGb, { format: "qcow2", qemuImg: this.opts.qemuImg });
    } catch (err) {
      throw toAgentError(err, `could not grow volume ${id}`);
    }
  }

  async remove(id: string): Promise<number> {
    const file = this.pathFor(id);
    const bytes = await fsp
      .stat(file)
      .then((st) => st.blocks * 512)
      .catch(() => null);
    if (bytes === null) throw new AgentError("not_found", `no volume ${id} on this host`);
    await fsp.rm(file, { force: true });
    return bytes;
  }
}
