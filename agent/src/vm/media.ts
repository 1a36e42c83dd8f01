// Boot media of a VM and the medium in its CD drive: the image cache's files for its spec, checked
// before anything is created or started.
import { constants as fsc, promises as fsp } from "node:fs";
import path from "node:path";
import type { VmSpec } from "../../../lib/schemas/agent-api";
import { gbToBytes, type ImageFormat, imageInfo } from "../qemu";
import { AgentError, errMessage, toAgentError } from "./errors";
import type { VmContext } from "./state";
import type { ResolvedImage } from "./types";

/** Absolute, readable paths of the spec's boot media (the image cache downloads them if needed). */
export async function resolveMedia(ctx: VmContext, spec: VmSpec): Promise<ResolvedImage> {
  let resolved: ResolvedImage;
  try {
    resolved = await ctx.opts.resolveImage(spec.boot);
  } catch (err) {
    throw toAgentError(err, `image ${spec.boot.imageId} is not available on this host`, "unavailable");
  }
  // An ISO install's boot image is the ISO (served as `disk`); the VM's disk itself starts blank.
  const need = spec.boot.type === "kernel" ? (["kernel"] as const) : (["disk"] as const);
  for (const key of need) {
    if (!resolved[key]) throw new AgentError("unavailable", `image ${spec.boot.imageId} has no ${key} file`);
  }
  const files = (["disk", "kernel", "initrd"] as const).flatMap((key) => {
    const p = resolved[key];
    if (p === undefined) return [];
    if (!path.isAbsolute(p))
      throw new AgentError("unavailable", `image ${spec.boot.imageId}: ${key} path is not absolute`);
    return [{ key, p }];
  });
  const readable = await Promise.all(
    files.map(({ p }) =>
      fsp.access(p, fsc.R_OK).then(
        () => true,
        () => false,
      ),
    ),
  );
  const missing = files.find((_, i) => !readable[i]);
  if (missing)
    throw new AgentError("unavailable", `image ${spec.boot.imageId}: ${missing.key} file ${missing.p} is missing`);
  return resolved;
}

/** Backing image and its format, checked against diskGb. Null = blank data disk. */
export async function inspectBase(
  ctx: VmContext,
  spec: VmSpec,
  resolved: ResolvedImage,
): Promise<{ path: string; format: ImageFormat } | null> {
  if (!resolved.disk || spec.boot.type === "iso") return null;
  // Disk images declare their format; a kernel image's optional disk is probed but must be qcow2/raw.
  const declared = spec.boot.type === "disk" ? spec.boot.format : undefined;
  let info;
  try {
    info = await imageInfo(resolved.disk, { format: declared, forceShare: true, qemuImg: ctx.opts.qemuImg });
  } catch (err) {
    throw new AgentError("unavailable", `image ${spec.boot.imageId} is unreadable: ${errMessage(err)}`);
  }
  const format = (declared ?? info.format) as string;
  if (format !== "qcow2" && format !== "raw")
    throw new AgentError("invalid", `image ${spec.boot.imageId} has unsupported format ${format}`);
  if (info["virtual-size"] > gbToBytes(spec.diskGb)) {
    const gb = Math.ceil(info["virtual-size"] / gbToBytes(1));
    throw new AgentError("invalid", `image ${spec.boot.imageId} needs a ${gb} GiB disk; diskGb is ${spec.diskGb}`);
  }
  return { path: resolved.disk, format };
}

/** Absolute, readable path of the ISO in the CD drive (spec.cdrom); null for an empty drive. */
export async function resolveCdrom(ctx: VmContext, cdrom: VmSpec["cdrom"]): Promise<string | null> {
  if (!cdrom) return null;
  let resolved: ResolvedImage;
  try {
    resolved = await ctx.opts.resolveImage({ type: "cdrom", imageId: cdrom.imageId, sha256: cdrom.sha256 });
  } catch (err) {
    throw toAgentError(err, `CD image ${cdrom.imageId} is not available on this host`, "unavailable");
  }
  const p = resolved.disk;
  if (!p || !path.isAbsolute(p)) throw new AgentError("unavailable", `CD image ${cdrom.imageId} has no ISO file`);
  try {
    await fsp.access(p, fsc.R_OK);
  } catch {
    throw new AgentError("unavailable", `CD image ${cdrom.imageId}: file ${p} is missing`);
  }
  return p;
}
