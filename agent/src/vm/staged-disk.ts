// A root disk received for a cold migration (PUT /v1/vms/:id/disks/root, agent/src/migration)
// waits in <stateDir>/incoming/<id>/root.qcow2 until PUT /v1/vms/:id creates the VM: create.ts
// then adopts it instead of making a fresh disk over the image.
import { promises as fsp } from "node:fs";
import path from "node:path";
import type { VmContext } from "./state";

export function incomingDir(ctx: Pick<VmContext, "opts">): string {
  return path.join(path.resolve(ctx.opts.stateDir), "incoming");
}

export function stagedRootPath(ctx: Pick<VmContext, "opts">, id: string): string {
  return path.join(incomingDir(ctx), id, "root.qcow2");
}

/** Moves a staged root disk to `dest`; false when none was received for this VM. */
export async function adoptStagedRoot(ctx: Pick<VmContext, "opts">, id: string, dest: string): Promise<boolean> {
  const staged = stagedRootPath(ctx, id);
  try {
    await fsp.rename(staged, dest);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
  await fsp.rm(path.dirname(staged), { recursive: true, force: true }).catch(() => {});
  return true;
}
