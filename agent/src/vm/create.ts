// Creating a VM: boot media, disk, network ports, spec.json last, then the first start. Each step
// is reported; a failed create removes everything it made.
import { promises as fsp } from "node:fs";
import path from "node:path";
import type { VmSpec } from "../../../lib/schemas/agent-api";
import { createQcow2 } from "../qemu";
import { AgentError, errMessage, toAgentError, withFreeSpace } from "./errors";
import { inspectBase, resolveCdrom, resolveMedia } from "./media";
import { addPort, releasePorts } from "./ports";
import { killNow, startVm } from "./power";
import { socketPathFits, sparseCopy } from "./proc";
import { adoptStagedRoot } from "./staged-disk";
import { pathsFor, removeVmDirs, saveSpec, saveState, sockDirFor, type Vm, type VmContext } from "./state";
import { statusOf } from "./status";
import type { StepReporter } from "./steps";
import type { ApplyResult } from "./types";
import type { LaunchPlan } from "./validate";

/** Creates VM `id` from a validated spec; it joins `vms` once spec.json is written. */
export async function createVm(
  ctx: VmContext,
  vms: Map<string, Vm>,
  id: string,
  spec: VmSpec,
  plan: LaunchPlan,
  step: StepReporter,
): Promise<ApplyResult> {
  // Resolve and inspect the media before touching anything.
  const resolved = await step.run("image ready", async () => {
    const r = await resolveMedia(ctx, spec);
    // The CD's medium too (an ISO install's is its boot image): a missing one fails here, not at start.
    const cd = spec.cdrom && spec.cdrom.imageId !== spec.boot.imageId ? `, CD ${spec.cdrom.imageId}` : "";
    if (spec.cdrom) await resolveCdrom(ctx, spec.cdrom);
    return { value: r, message: `image ${spec.boot.imageId}${cd} verified in the host cache` };
  });
  const base = await inspectBase(ctx, spec, resolved).catch((err) => step.fail("image ready", err));

  const dir = path.join(ctx.vmsDir, id);
  const sockDir = sockDirFor(ctx, id);
  const paths = pathsFor(ctx, id, sockDir);
  if (!socketPathFits(paths.qmp) || !socketPathFits(paths.serial)) {
    throw new AgentError("unavailable", `socket path too long: ${paths.serial}`);
  }
  // mkdir without `recursive` fails when the directory exists: not in the map but on disk is an
  // unreadable earlier VM. Do not overwrite someone's disk (and do not clean it up below).
  await fsp.mkdir(dir, { mode: 0o700 }).catch(async (err: NodeJS.ErrnoException) => {
    if (err.code === "EEXIST")
      throw new AgentError("conflict", `state directory for VM ${id} exists but could not be loaded; inspect ${dir}`);
    throw await withFreeSpace(toAgentError(err, `could not create VM ${id}`), ctx.vmsDir);
  });
  const vm: Vm = {
    id,
    spec,
    state: {
      version: 1,
      sockDir,
      taps: {},
      nicSpecs: {},
      accel: plan.accel,
      emulated: plan.emulated,
      resolved,
      volumePorts: {},
    },
    paths,
    pid: null,
    qmp: null,
    qmpConnecting: null,
    transition: null,
    forceRequested: false,
  };
  try {
    if (sockDir !== dir) await fsp.mkdir(sockDir, { recursive: true, mode: 0o700 });
    await saveState(vm);
    await step.run("disk", async () => {
      // Cold migration: the disk received from the source host (already verified) is the VM's disk.
      if (await adoptStagedRoot(ctx, id, paths.disk)) {
        if (plan.uefi) await sparseCopy(plan.uefi.varsTemplate, paths.vars);
        return { value: undefined, message: "received disk adopted (cold migration)" };
      }
      if (base) {
        await createQcow2(paths.disk, {
          base: base.path,
          baseFormat: base.format,
          sizeGb: spec.diskGb,
          qemuImg: ctx.opts.qemuImg,
        });
      } else {
        await createQcow2(paths.disk, { sizeGb: spec.diskGb, qemuImg: ctx.opts.qemuImg });
      }
      if (plan.uefi) await sparseCopy(plan.uefi.varsTemplate, paths.vars);
      return {
        value: undefined,
        message: `${spec.diskGb} GiB qcow2${base ? ` over the ${base.format} image` : ", empty"}${plan.uefi ? ", UEFI vars" : ""}`,
      };
    });
    if (spec.nics.length === 0) step.emit("network", "skipped", "no NICs");
    else {
      await step.run("network", async () => {
        for (const nic of spec.nics) await addPort(ctx, vm, nic);
        return { value: undefined, message: `${spec.nics.length} OVS port${spec.nics.length === 1 ? "" : "s"}` };
      });
    }
    // spec.json last: its presence marks a complete VM for init().
    await saveSpec(vm);
    vms.set(id, vm);
    if (spec.powerState === "running") {
      await step.run("starting", async () => {
        await startVm(ctx, vm);
        return {
          value: undefined,
          message: `${plan.accel === "kvm" ? "KVM" : "TCG (emulated)"}, pid ${vm.pid ?? "?"}`,
        };
      });
    } else {
      step.emit("starting", "skipped", "created stopped");
      step.emit("running", "skipped", "created stopped");
    }
  } catch (err) {
    ctx.log("create failed; cleaning up", { id, error: errMessage(err) });
    vms.delete(id);
    await killNow(ctx, vm).catch(() => {});
    await releasePorts(ctx, id, vm.state).catch(() => {});
    await removeVmDirs(paths);
    throw await withFreeSpace(toAgentError(err, `could not create VM ${id}`), ctx.vmsDir);
  }
  ctx.log("vm created", { id, arch: spec.arch, accel: plan.accel });
  const status = await statusOf(ctx, vm);
  if (spec.powerState === "running") {
    // QEMU is up; "running" is what QMP says, not what we hope.
    if (status.powerState === "running")
      step.emit("running", "succeeded", status.qmpStatus ? `QMP status ${status.qmpStatus}` : undefined);
    else step.emit("running", "running", `power state ${status.powerState}`);
  }
  return { created: true, changed: true, status };
}
