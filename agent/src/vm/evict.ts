// Eviction of a stale copy (heartbeat `evict`, issue 14): the controller has moved this VM to
// another host at a newer generation (live migration, HA restart), so the copy here must not run.
// Its QEMU is killed and its taps released, but its files are never deleted: the directory moves to
// <stateDir>/evicted/<id>-g<generation>-<time>/ where an operator can still recover the disk.
import { promises as fsp } from "node:fs";
import path from "node:path";
import { killNow } from "./power";
import { releasePorts } from "./ports";
import { saveState, type Vm, type VmContext } from "./state";

export const EVICTED_DIR = "evicted";

/** The generation of a local copy (specs from before issue 14 have none: 1). */
export function localGeneration(vm: Pick<Vm, "spec">): number {
  return vm.spec.generation ?? 1;
}

/** True when the controller's generation is newer than this copy's: only then is it evicted. */
export function isStale(vm: Pick<Vm, "spec">, generation: number): boolean {
  return localGeneration(vm) < generation;
}

/** 20261206T055012.345Z: sortable, and no ':' in a directory name. */
export function quarantineName(id: string, generation: number, at: Date): string {
  return `${id}-g${generation}-${at.toISOString().replace(/[-:]/g, "")}`;
}

/**
 * Kills, releases and quarantines one stale copy; the caller holds the VM's lock and drops it from
 * its map via `forget` once its files have moved. Returns the quarantine directory. A network
 * failure throws before anything moves (the next heartbeat's `evict` retries, as a delete would).
 */
export async function evictVm(
  ctx: VmContext,
  vm: Vm,
  generation: number,
  forget: () => void,
  now = new Date(),
): Promise<string> {
  vm.forceRequested = true;
  await killNow(ctx, vm);
  await releasePorts(ctx, vm.id, vm.state).finally(() => saveState(vm).catch(() => {}));
  const root = path.join(path.dirname(ctx.vmsDir), EVICTED_DIR);
  await fsp.mkdir(root, { recursive: true, mode: 0o700 });
  const dest = path.join(root, quarantineName(vm.id, localGeneration(vm), now));
  await fsp.writeFile(
    path.join(vm.paths.dir, "evicted.json"),
    JSON.stringify({ id: vm.id, generation: localGeneration(vm), newerGeneration: generation, at: now.toISOString() }) +
      "\n",
    { mode: 0o600 },
  );
  await fsp.rename(vm.paths.dir, dest);
  forget();
  // Sockets kept elsewhere (long state-dir paths) are only sockets: nothing to keep.
  if (vm.paths.sockDir !== vm.paths.dir)
    await fsp.rm(vm.paths.sockDir, { recursive: true, force: true }).catch(() => {});
  ctx.log("vm evicted", { id: vm.id, generation: localGeneration(vm), newerGeneration: generation, quarantine: dest });
  return dest;
}
