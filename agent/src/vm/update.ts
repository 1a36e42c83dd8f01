// Updating an existing VM to a new spec: what may change (and when), disk growth, NIC ports, the
// cloud-init seed, and the power state.
import type { VmSpec } from "../../../lib/schemas/agent-api";
import { gbToBytes, resizeImage } from "../qemu";
import { ensureQmp } from "./attach";
import { ensureSeedIso } from "./cloud-init";
import { AgentError } from "./errors";
import { addPort } from "./ports";
import { gracefulStop, startVm } from "./power";
import { pidAlive } from "./proc";
import { saveSpec, saveState, type Vm, type VmContext } from "./state";
import { statusOf } from "./status";
import type { ApplyResult, NicSpec } from "./types";
import { specDisplay } from "./validate";

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
  const hardwareChanged =
    old.vcpus !== spec.vcpus ||
    old.memoryMb !== spec.memoryMb ||
    canonical(old.nics) !== canonical(spec.nics) ||
    specDisplay(old) !== specDisplay(spec);
  if (running && spec.powerState === "running" && hardwareChanged) {
    throw new AgentError(
      "conflict",
      `VM ${vm.id} is running: stop it before changing vCPUs, memory, NICs or its display`,
    );
  }
  if (running && spec.powerState === "stopped") await gracefulStop(ctx, vm);

  if (spec.diskGb > old.diskGb) {
    const q = vm.pid !== null && pidAlive(vm.pid) ? await ensureQmp(ctx, vm, 5_000) : null;
    if (q) await q.blockResize("disk0", gbToBytes(spec.diskGb));
    else await resizeImage(vm.paths.disk, spec.diskGb, { qemuImg: ctx.opts.qemuImg });
  }
  if (canonical(old.nics) !== canonical(spec.nics)) await reconcileNics(ctx, vm, spec.nics);
  // cloud-init seed: rebuilt now while stopped (errors show up on this PUT); a running VM keeps
  // its CD and gets the new seed at its next start (launchArgs).
  const seedInputsChanged =
    canonical(old.cloudInit) !== canonical(spec.cloudInit) || canonical(old.nics) !== canonical(spec.nics);
  if (seedInputsChanged && !(vm.pid !== null && pidAlive(vm.pid))) {
    await ensureSeedIso(vm.paths.dir, vm.id, spec, { genisoimage: ctx.opts.genisoimage });
  }
  vm.spec = spec;
  await saveSpec(vm);
  if (spec.powerState === "running" && !(vm.pid !== null && pidAlive(vm.pid))) await startVm(ctx, vm);
  ctx.changed(vm);
  return { created: false, changed: true, status: await statusOf(ctx, vm) };
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
