// The VM's root disk as one standalone qcow2 (capture to image). Contract: lib/schemas/agent-api.ts
// (GET /v1/vms/:id/disk). Called by VmManager under the VM's lock; the caller streams the file
// after the lock is released and then calls cleanup().
//
// The copy is written to <stateDir>/exports/<vm>-XXXXXX/ (0700): on the agent's own file system,
// never in a shared /tmp. Without a snapshot the VM must be stopped (a running guest changes the
// disk under the copy); a snapshot's clusters never change, so it is read while QEMU runs.
import { promises as fsp } from "node:fs";
import path from "node:path";
import { flattenToQcow2, imageInfo } from "../qemu";
import { AgentError, errMessage, toAgentError } from "./errors";
import { existingSnapshotTag, isRunning } from "./snapshots";
import type { Vm, VmContext } from "./state";

export interface ExportedDisk {
  /** a temporary file the caller streams and then removes with cleanup() */
  path: string;
  sizeBytes: number;
  cleanup(): Promise<void>;
}

/** Exports older than this were left by an agent that died mid-stream: removed on the next export. */
const STALE_EXPORT_MS = 24 * 3600_000;
/** Copying a large disk takes a while; a hung qemu-img must still end. */
const CONVERT_TIMEOUT_MS = 6 * 3600_000;

export function exportsDir(ctx: VmContext): string {
  return path.join(path.resolve(ctx.opts.stateDir), "exports");
}

export async function exportDisk(ctx: VmContext, vm: Vm, opts: { snapshotId?: string }): Promise<ExportedDisk> {
  const running = await isRunning(ctx, vm);
  // Resolves (and 404s) the snapshot before anything is written.
  const tag = opts.snapshotId !== undefined ? await existingSnapshotTag(ctx, vm, opts.snapshotId) : undefined;
  if (tag === undefined && running) {
    throw new AgentError(
      "conflict",
      `VM ${vm.id} is running: stop it to export its disk, or export one of its snapshots`,
    );
  }
  const root = exportsDir(ctx);
  await fsp.mkdir(root, { recursive: true, mode: 0o700 });
  await fsp.chmod(root, 0o700); // also when it existed: the copies are whole guest disks
  await removeStaleExports(ctx, root);
  await ensureRoom(ctx, vm, root);

  const dir = await fsp.mkdtemp(path.join(root, `${vm.id}-`));
  const cleanup = () => fsp.rm(dir, { recursive: true, force: true });
  const file = path.join(dir, "disk.qcow2");
  try {
    await flattenToQcow2(vm.paths.disk, file, {
      snapshot: tag,
      forceShare: running,
      qemuImg: ctx.opts.qemuImg,
      timeoutMs: CONVERT_TIMEOUT_MS,
    });
    const { size } = await fsp.stat(file);
    ctx.log("disk exported", { id: vm.id, snapshot: opts.snapshotId, bytes: size });
    return { path: file, sizeBytes: size, cleanup };
  } catch (err) {
    await cleanup().catch(() => {});
    throw toAgentError(err, `could not export the disk of VM ${vm.id}`);
  }
}

/**
 * The flattened copy is at most the disk's virtual size: refuse up front rather than fill the
 * file system the VMs' disks live on.
 */
async function ensureRoom(ctx: VmContext, vm: Vm, dir: string): Promise<void> {
  const info = await imageInfo(vm.paths.disk, { format: "qcow2", forceShare: true, qemuImg: ctx.opts.qemuImg }).catch(
    (err: unknown) => {
      throw toAgentError(err, `could not read the disk of VM ${vm.id}`);
    },
  );
  const need = info["virtual-size"];
  const fs = await fsp.statfs(dir);
  const free = fs.bavail * fs.bsize;
  if (free < need) {
    throw new AgentError(
      "insufficient_storage",
      `not enough free space on the agent to export VM ${vm.id}: needs up to ${gib(need)} GiB, ${gib(free)} GiB free`,
    );
  }
}

function gib(bytes: number): string {
  return (bytes / 1024 ** 3).toFixed(1);
}

async function removeStaleExports(ctx: VmContext, root: string): Promise<void> {
  const now = Date.now();
  for (const name of await fsp.readdir(root).catch(() => [] as string[])) {
    const p = path.join(root, name);
    try {
      const st = await fsp.stat(p);
      if (now - st.mtimeMs > STALE_EXPORT_MS) await fsp.rm(p, { recursive: true, force: true });
    } catch (err) {
      ctx.log("could not remove a stale disk export", { path: p, error: errMessage(err) });
    }
  }
}
