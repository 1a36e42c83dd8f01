// Updating an existing VM to a new spec: what may change (and when), the CD medium and data
// volumes (live on a running VM), disk growth, NIC ports, the cloud-init seed, and the power state.
import type { VmSpec } from "../../../lib/schemas/agent-api";
import { CDROM_ID, gbToBytes, resizeImage } from "../qemu";
import { ensureQmp } from "./attach";
import { ensureSeedIso } from "./cloud-init";
import { AgentError, errMessage } from "./errors";
import { resolveCdrom } from "./media";
import { addPort } from "./ports";
import { gracefulStop, startVm } from "./power";
import { pidAlive } from "./proc";
import { saveSpec, saveState, type Vm, type VmContext } from "./state";
import { statusOf } from "./status";
import type { ApplyResult, NicSpec } from "./types";
import { specDisplay } from "./validate";
import { reconcileVolumesLive } from "./volume-attach";

/** Idempotent: the same spec again changes nothing (`changed: false`). */
export async function updateVm(ctx: VmContext, vm: Vm, spec: VmSpec): Promise<ApplyResult> {
  const old = vm.spec;
  if (canonical(old) === canonical(spec)) return { created: false, changed: false, status: await statusOf(ctx, vm) };
  if (old.arch !== spec.arch)
    throw new AgentError("conflict", `VM ${vm.id} is ${old.arch}; the architecture of an existing VM cannot change`);
  if (canonical(old.boot) !== canonical(spec.boot)) {
    throw new AgentError("conflict", `VM ${vm.id}: boot media cannot change on an existing VM; delete and recreate it`);
  }
  if (spec.diskGb < old.diskGb)
    throw new AgentError("conflict", `VM ${vm.id}: the disk can only grow (${old.diskGb} GiB -> ${spec.diskGb} GiB)`);
  const running = vm.pid !== null && pidAlive(vm.pid);
  // The CD medium and data volumes are not on this list: a running VM takes them live.
  const hardwareChanged =
    old.vcpus !== spec.vcpus ||
    old.memoryMb !== spec.memoryMb ||
    canonical(nicHardware(old.nics)) !== canonical(nicHardware(spec.nics)) ||
    specDisplay(old) !== specDisplay(spec);
  if (running && spec.powerState === "running" && hardwareChanged) {
    throw new AgentError(
      "conflict",
      `VM ${vm.id} is running: stop it before changing vCPUs, memory, NICs or its display`,
    );
  }
  if (running && spec.powerState === "stopped") await gracefulStop(ctx, vm);
  await applyStorage(ctx, vm, spec);

  if (spec.diskGb > old.diskGb) {
    const q = vm.pid !== null && pidAlive(vm.pid) ? await ensureQmp(ctx, vm, 5_000) : null;
    if (q) await q.blockResize("disk0", gbToBytes(spec.diskGb));
    else await resizeImage(vm.paths.disk, spec.diskGb, { qemuImg: ctx.opts.qemuImg });
  }
  const nicsChanged = canonical(nicHardware(old.nics)) !== canonical(nicHardware(spec.nics));
  if (nicsChanged) await reconcileNics(ctx, vm, spec.nics);
  await reconcileFirewalls(ctx, vm, old.nics, spec.nics);
  // cloud-init seed: rebuilt now while stopped (errors show up on this PUT); a running VM keeps
  // its CD and gets the new seed at its next start (launchArgs).
  const seedInputsChanged = canonical(old.cloudInit) !== canonical(spec.cloudInit) || nicsChanged;
  if (seedInputsChanged && !(vm.pid !== null && pidAlive(vm.pid))) {
    await ensureSeedIso(vm.paths.dir, vm.id, spec, { genisoimage: ctx.opts.genisoimage });
  }
  vm.spec = spec;
  await saveSpec(vm);
  if (spec.powerState === "running" && !(vm.pid !== null && pidAlive(vm.pid))) await startVm(ctx, vm);
  ctx.changed(vm);
  return { created: false, changed: true, status: await statusOf(ctx, vm) };
}

/**
 * The CD medium and the data volumes: a running VM takes them live (QMP), a stopped one at its
 * next start. These are the changes that can fail half-way (a guest that does not release a
 * volume), so each one is recorded in the spec as it succeeds: on failure the spec says what the
 * VM really has, and the error says what did not happen.
 */
async function applyStorage(ctx: VmContext, vm: Vm, spec: VmSpec): Promise<void> {
  const cdChanged = canonical(vm.spec.cdrom ?? null) !== canonical(spec.cdrom ?? null);
  const oldIds = vm.spec.volumes.map((v) => v.id);
  const wantedIds = spec.volumes.map((v) => v.id);
  const volumesChanged = canonical([...oldIds].sort()) !== canonical([...wantedIds].sort());
  if (!cdChanged && !volumesChanged) return;
  if (!(vm.pid !== null && pidAlive(vm.pid))) {
    // Stopped: free the root ports of detached volumes; launch gives new ones theirs.
    const ports = vm.state.volumePorts ?? {};
    for (const id of Object.keys(ports)) if (!wantedIds.includes(id)) delete ports[id];
    await saveState(vm);
    return;
  }
  const q = await ensureQmp(ctx, vm, 5_000);
  if (!q) throw new AgentError("unavailable", `VM ${vm.id} is running but its QMP socket does not answer`);
  if (cdChanged) {
    try {
      if (spec.cdrom) await q.changeMedium(CDROM_ID, (await resolveCdrom(ctx, spec.cdrom))!);
      else await q.eject(CDROM_ID);
    } catch (err) {
      if (err instanceof AgentError) throw err;
      if (/Device '.*' not found/.test(errMessage(err)))
        throw new AgentError(
          "conflict",
          `VM ${vm.id} was started without a CD drive (by an older agent): stop and start it, then change the medium`,
        );
      throw new AgentError("unavailable", `could not change the CD of VM ${vm.id}: ${errMessage(err)}`);
    }
    vm.spec = { ...vm.spec, cdrom: spec.cdrom ?? null };
    await saveSpec(vm);
    ctx.log(spec.cdrom ? "cd inserted" : "cd ejected", { id: vm.id, imageId: spec.cdrom?.imageId });
  }
  if (volumesChanged) {
    const attached = [...oldIds];
    try {
      await reconcileVolumesLive(ctx, vm, q, wantedIds, attached);
    } catch (err) {
      vm.spec = { ...vm.spec, volumes: attached.map((id) => ({ id })) };
      await saveSpec(vm);
      ctx.changed(vm);
      throw err;
    }
  }
}

/** Only while stopped: remove ports of removed/changed NICs, add ports for new ones. */
async function reconcileNics(ctx: VmContext, vm: Vm, nics: NicSpec[]): Promise<void> {
  const wanted = new Map(nics.map((n) => [n.id, n]));
  for (const [nicId, tap] of Object.entries(vm.state.taps)) {
    const have = vm.state.nicSpecs[nicId];
    const want = wanted.get(nicId);
    if (want && have && canonical(want) === canonical(have)) continue;
    await ctx.opts.network?.removePort(vm.id, have ?? want ?? { id: nicId, mac: "00:00:00:00:00:00", vlan: 0 }, tap);
    delete vm.state.taps[nicId];
    delete vm.state.nicSpecs[nicId];
    await saveState(vm);
  }
  for (const nic of nics) if (!vm.state.taps[nic.id]) await addPort(ctx, vm, nic);
}

/** A NIC as the guest and its port see it: the security-group firewall changes live, not by replugging. */
function nicHardware(nics: readonly NicSpec[]): Omit<NicSpec, "firewall">[] {
  return nics.map((n) => {
    const hw = { ...n };
    delete hw.firewall;
    return hw;
  });
}

/**
 * A spec whose NIC firewall differs from the last one (the VM's security groups changed while its host
 * did not hear of it, or the spec is the first to carry one): the plugged ports take it live, running
 * or not. Ports plugged by this update already got theirs (addPort).
 */
async function reconcileFirewalls(ctx: VmContext, vm: Vm, before: NicSpec[], after: NicSpec[]): Promise<void> {
  const apply = ctx.opts.network?.applyFirewall?.bind(ctx.opts.network);
  if (!apply) return;
  let applied = 0;
  for (const nic of after) {
    if (nic.firewall === undefined || !vm.state.taps[nic.id]) continue;
    const was = before.find((n) => n.id === nic.id);
    if (was && canonical(was.firewall ?? null) === canonical(nic.firewall)) continue;
    if (vm.state.nicSpecs[nic.id] === nic) continue; // just plugged with it
    await apply(vm.id, nic.id, nic.firewall);
    vm.state.nicSpecs[nic.id] = nic;
    applied++;
  }
  if (applied) await saveState(vm);
}

/** Stable JSON (sorted keys) to compare specs. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}
