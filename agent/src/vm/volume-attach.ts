// Data volumes inside a VM (ADR 030): each sits on one of the PCIe root ports reserved at start.
// The port a volume occupies is recorded in state.json, so an agent restart finds the running
// device again and a VM restart puts it back where the guest saw it. On a running VM volumes are
// hot-plugged (blockdev-add + device_add) and unplugged (device_del, then the guest must release
// the device — DEVICE_DELETED — before the block node can go).
import { volumeSerial } from "../../../lib/schemas/agent-api";
import {
  type QemuVolume,
  QmpError,
  type QmpClient,
  volumeBlockdev,
  volumeDevice,
  volumeNodeName,
  VOLUME_PORTS,
} from "../qemu";
import { AgentError, errMessage } from "./errors";
import { sleep } from "./proc";
import { saveState, type Vm, type VmContext } from "./state";

function portsOf(vm: Vm): Record<string, number> {
  return (vm.state.volumePorts ??= {});
}

/** The lowest reserved root port no volume of this VM occupies. */
function freePort(vm: Vm, volumeId: string): number {
  const used = new Set(Object.values(portsOf(vm)));
  for (let p = 0; p < VOLUME_PORTS; p++) if (!used.has(p)) return p;
  throw new AgentError("conflict", `VM ${vm.id} has no free slot for volume ${volumeId} (${VOLUME_PORTS} at most)`);
}

/**
 * The volumes of a VM about to start: ports kept from earlier runs, new ones for volumes attached
 * while it was stopped; ports of detached volumes are freed. Every file must exist.
 */
export async function volumesForLaunch(ctx: VmContext, vm: Vm): Promise<QemuVolume[]> {
  const ports = portsOf(vm);
  const wanted = new Set(vm.spec.volumes.map((v) => v.id));
  let changed = false;
  for (const id of Object.keys(ports)) {
    if (!wanted.has(id)) {
      delete ports[id];
      changed = true;
    }
  }
  const out: QemuVolume[] = [];
  for (const { id } of vm.spec.volumes) {
    if (!(await ctx.volumes.exists(id)))
      throw new AgentError("conflict", `volume ${id} of VM ${vm.id} does not exist on this host; detach it first`);
    if (ports[id] === undefined) {
      ports[id] = freePort(vm, id);
      changed = true;
    }
    out.push({ port: ports[id], path: ctx.volumes.pathFor(id), serial: volumeSerial(id) });
  }
  if (changed) await saveState(vm);
  return out;
}

/** The block node of a volume attached to this (running) VM, or null when it is not plugged in. */
export function volumeNode(vm: Vm, volumeId: string): string | null {
  const port = vm.state.volumePorts?.[volumeId];
  return port === undefined ? null : volumeNodeName(port);
}

/** Plugs a volume into a running VM on a free root port. Nothing is left behind when it fails. */
export async function hotplugVolume(ctx: VmContext, vm: Vm, q: QmpClient, volumeId: string): Promise<void> {
  const port = freePort(vm, volumeId);
  const node = volumeNodeName(port);
  const file = ctx.volumes.pathFor(volumeId);
  // A node of an earlier, interrupted attempt would block the name; one in use refuses to go.
  await q.blockdevDel(node).catch(() => {});
  try {
    await q.blockdevAdd(volumeBlockdev(port, file));
  } catch (err) {
    throw new AgentError("unavailable", `could not open volume ${volumeId} for VM ${vm.id}: ${errMessage(err)}`);
  }
  try {
    await q.deviceAdd(volumeDevice(port, volumeSerial(volumeId)));
  } catch (err) {
    await q.blockdevDel(node).catch(() => {});
    if (/Bus '.*' not found/.test(errMessage(err)))
      throw new AgentError(
        "conflict",
        `VM ${vm.id} was started without hot-plug slots (by an older agent): stop and start it, then attach volume ${volumeId}`,
      );
    throw new AgentError("unavailable", `could not plug volume ${volumeId} into VM ${vm.id}: ${errMessage(err)}`);
  }
  portsOf(vm)[volumeId] = port;
  await saveState(vm);
  ctx.log("volume attached", { id: vm.id, volumeId, port });
}

/** How long blockdev-del is retried while QEMU still calls the node in use right after DEVICE_DELETED. */
const RELEASE_RETRY_MS = 5_000;

/**
 * Closes a volume's block node once its device is gone. Gone already (a node QEMU made with the
 * device) is fine. "is in use" just after the device went is retried: a loaded machine once answered
 * it to the blockdev-del that followed a guest's late release (a clean-clone run of storage.int).
 */
async function releaseNode(q: QmpClient, node: string): Promise<void> {
  const until = Date.now() + RELEASE_RETRY_MS;
  for (;;) {
    try {
      return await q.blockdevDel(node);
    } catch (err) {
      if (/find node/i.test(errMessage(err))) return;
      if (!/is in use/i.test(errMessage(err)) || Date.now() >= until) throw err;
      await sleep(100);
    }
  }
}

/**
 * Unplugs a volume from a running VM. The guest must release the device (PCIe: the attention
 * button, ~5 s); when it does not within the timeout the volume stays attached (409). Asking
 * again later is safe: a device the guest released meanwhile is simply gone.
 */
export async function unplugVolume(ctx: VmContext, vm: Vm, q: QmpClient, volumeId: string): Promise<void> {
  const node = volumeNode(vm, volumeId);
  if (node === null) return; // never plugged into this QEMU
  const abort = new AbortController();
  const deleted = q.waitForEvent("DEVICE_DELETED", (e) => e.data?.device === node, ctx.unplugTimeoutMs, abort.signal);
  let gone = false;
  try {
    await q.deviceDel(node);
  } catch (err) {
    if (err instanceof QmpError && err.errorClass === "DeviceNotFound") gone = true;
    else if (!(err instanceof QmpError)) {
      abort.abort();
      throw new AgentError("unavailable", `could not unplug volume ${volumeId} from VM ${vm.id}: ${errMessage(err)}`);
    }
    // Any other QMP error (e.g. an unplug already pending): wait for the guest like the first time.
  }
  if (gone) abort.abort();
  else if (!(await deleted)) {
    throw new AgentError(
      "conflict",
      `the guest of VM ${vm.id} did not release volume ${volumeId} within ${Math.round(ctx.unplugTimeoutMs / 1000)} s ` +
        "(still mounted, or no PCIe hot-plug support in the guest?); it stays attached — unmount it and try again",
    );
  }
  await releaseNode(q, node);
  delete portsOf(vm)[volumeId];
  await saveState(vm);
  ctx.log("volume detached", { id: vm.id, volumeId });
}

/**
 * Brings a running VM's volumes from `vm.spec.volumes` to `wanted`: unplugs first (freeing
 * ports), then plugs. `attached` is kept current as each step succeeds, so a caller whose change
 * fails half-way records what is really attached.
 */
export async function reconcileVolumesLive(
  ctx: VmContext,
  vm: Vm,
  q: QmpClient,
  wanted: string[],
  attached: string[],
): Promise<void> {
  for (const id of [...attached]) {
    if (wanted.includes(id)) continue;
    await unplugVolume(ctx, vm, q, id);
    attached.splice(attached.indexOf(id), 1);
  }
  for (const id of wanted) {
    if (attached.includes(id)) continue;
    await hotplugVolume(ctx, vm, q, id);
    attached.push(id);
  }
}
