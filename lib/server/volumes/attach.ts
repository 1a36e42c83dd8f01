import "server-only";
// Attaching and detaching data volumes. A volume attaches only to a VM on its own host (an
// unplaced one takes the host of the first VM it is attached to, claiming its size there); the
// agent hot-plugs or unplugs it when it gets the VM's new spec (PUT /v1/vms/:id with `volumes`).
// Every step that fails puts the rows, the claim and the agent back as they were.
import { AppError } from "../../errors";
import { MAX_VM_VOLUMES } from "../../schemas/agent-api";
import { agentClient } from "../hosts";
import { db, recordAudit, type Caller } from "../platform";
import {
  claimHostDelta,
  createTask,
  finishTask,
  releaseHostDelta,
  refuseWhileMoving,
  requireVmAccess,
  setStep,
  specFor,
  SPEC_VOLUME_STATES,
  whyNoRoom,
} from "../vms";
import { getVolume, requireVolumeAccess } from "./queries";
import { volumeSourceFor } from "./source";

type VmWithHost = NonNullable<Awaited<ReturnType<typeof loadVm>>>;
type VolumeRow = NonNullable<Awaited<ReturnType<ReturnType<typeof db>["volume"]["findUnique"]>>>;

/** Volumes that may be attached: available ones (and rows left "in-use" by a VM deleted under them). */
const DETACHED_STATES = ["available", "in-use"];

function loadVm(id: string) {
  return db().vm.findUnique({ where: { id }, include: { host: true } });
}

const sameProject = (a: string | null, b: string | null) => (a ?? "default") === (b ?? "default");

async function audit(
  who: Caller,
  action: string,
  volumeId: string,
  result: "success" | "error",
  details: Record<string, unknown>,
) {
  await recordAudit({
    actor: who.actor,
    action,
    result,
    targetType: "volume",
    targetId: volumeId,
    clientIp: who.clientIp,
    details,
  });
}

/** What keeps a VM from taking this volume, if anything (the 409s). */
function attachRefusal(vm: VmWithHost, volume: VolumeRow, hostName: string | null): string | null {
  if (!vm.host || !["running", "stopped"].includes(vm.status))
    return `Volumes attach only to a running or stopped VM; ${vm.name} is ${vm.status}.`;
  if (vm.ha)
    return (
      `${vm.name} is an HA VM: an HA restart boots it from its image on another host, and a volume lives on one ` +
      "host's disk, so it could not follow. Turn HA off to attach volumes."
    );
  if (volume.vmId && volume.vmId !== vm.id) return `Volume ${volume.name} is attached to another VM; detach it first.`;
  if (volume.vmId === vm.id) return `Volume ${volume.name} is already attached to ${vm.name}.`;
  if (!DETACHED_STATES.includes(volume.status))
    return `Volume ${volume.name} is ${volume.status}; it can be attached once it is available.`;
  if (volume.hostId && volume.hostId !== vm.hostId)
    return (
      `Volume ${volume.name} lives on host ${hostName ?? volume.hostId} and ${vm.name} runs on host ${vm.host.name}: ` +
      "a volume attaches only to VMs on its host."
    );
  if (!sameProject(volume.projectId, vm.projectId))
    return `Volume ${volume.name} belongs to another project than ${vm.name}; a volume attaches only to VMs of its project.`;
  return null;
}

/** POST /api/v1/vms/:id/volumes */
export async function attachVolume(vmId: string, volumeId: string, who: Caller) {
  const attempt = { action: "volume.attach", clientIp: who.clientIp };
  await requireVmAccess(who.actor, vmId, "vm:operate", attempt);
  await requireVolumeAccess(who.actor, volumeId, "vm:operate", attempt);
  await refuseWhileMoving(vmId);
  const task = await createTask({
    kind: "volume.attach",
    vmId,
    userId: who.actor.id,
    steps: ["check", "claim capacity", "create on host", "attach"],
  });
  await attachWithTask(vmId, volumeId, who, task.id, 0);
  await finishTask(task.id, true);
  return getVolume(volumeId);
}

/**
 * The attach itself, recording its steps from `first` on in `taskId` (steps: check, claim
 * capacity, create on host, attach). Throws after failing the step and the task; the caller
 * finishes a successful task (create-and-attach has more to do).
 */
export async function attachWithTask(vmId: string, volumeId: string, who: Caller, taskId: string, first: number) {
  const fail = async (step: number, error: unknown) => {
    const message = error instanceof AppError ? error.message : "The host could not attach the volume.";
    await setStep(taskId, first + step, "failed", message);
    await finishTask(taskId, false, message);
    await audit(who, "volume.attach", volumeId, "error", { vmId, reason: message });
    return error instanceof AppError ? error : new AppError({ code: "unavailable", message });
  };
  const vm = await loadVm(vmId);
  const volume = await db().volume.findUnique({ where: { id: volumeId } });
  if (!vm || !volume) throw await fail(0, new AppError({ code: "not_found", message: "The VM or volume is gone." }));
  const hostName = volume.hostId
    ? ((await db().host.findUnique({ where: { id: volume.hostId }, select: { name: true } }))?.name ?? null)
    : null;
  const refusal = attachRefusal(vm, volume, hostName);
  if (refusal) throw await fail(0, new AppError({ code: "conflict", message: refusal }));
  const attached = await db().volume.count({ where: { vmId, status: { in: [...SPEC_VOLUME_STATES] } } });
  if (attached >= MAX_VM_VOLUMES)
    throw await fail(
      0,
      new AppError({ code: "conflict", message: `${vm.name} has ${attached} volumes, the most a VM can have.` }),
    );
  await setStep(taskId, first, "succeeded", `${volume.name} → ${vm.name} on ${vm.host!.name}`);

  const host = vm.host!;
  const placing = volume.hostId === null;
  const delta = { vcpus: 0, memoryMb: 0, diskGb: volume.sizeGb };
  await setStep(taskId, first + 1, "running");
  // The claim (first attach only) and taking the volume in one transaction; a loser of a race gives
  // its claim back in it and commits net zero (no ROLLBACK on SQLite's shared connection).
  const outcome = await db().$transaction(async (tx) => {
    if (placing && !(await claimHostDelta(tx, host.id, delta))) return "no-room" as const;
    const taken = await tx.volume.updateMany({
      where: { id: volumeId, vmId: null, hostId: volume.hostId, status: { in: DETACHED_STATES } },
      data: { vmId, hostId: host.id, status: "attaching", lastError: null },
    });
    if (taken.count !== 1) {
      if (placing) await releaseHostDelta(tx, host.id, delta);
      return "raced" as const;
    }
    return "taken" as const;
  });
  if (outcome === "no-room")
    throw await fail(
      1,
      new AppError({ code: "conflict", message: await whyNoRoom(host.id, delta, `Volume ${volume.name}`) }),
    );
  if (outcome === "raced")
    throw await fail(
      1,
      new AppError({ code: "conflict", message: `Volume ${volume.name} changed meanwhile; try again.` }),
    );
  await setStep(
    taskId,
    first + 1,
    "succeeded",
    placing ? `${volume.sizeGb} GiB on ${host.name}` : "already on this host",
  );

  /** Back to detached (and unplaced, with the claim given back, when this attach placed it). */
  const undo = async () => {
    await db().$transaction(async (tx) => {
      const back = await tx.volume.updateMany({
        where: { id: volumeId, vmId, status: "attaching" },
        data: { vmId: null, status: "available", ...(placing ? { hostId: null } : {}) },
      });
      if (back.count === 1 && placing) await releaseHostDelta(tx, host.id, delta);
    });
  };
  if (placing) {
    await setStep(taskId, first + 2, "running");
    try {
      const source = await volumeSourceFor(volume.imageId);
      await agentClient.putVolume(host, volumeId, { sizeGb: volume.sizeGb, ...(source ? { source } : {}) });
    } catch (error) {
      await undo();
      throw await fail(2, error);
    }
    await setStep(taskId, first + 2, "succeeded", `${volume.sizeGb} GiB qcow2`);
  } else await setStep(taskId, first + 2, "skipped", "exists on the host");

  await setStep(taskId, first + 3, "running");
  try {
    await agentClient.putVm(host, vmId, await specFor(vmId));
  } catch (error) {
    await undo();
    // The file made for this attach goes too: an unplaced volume stays unplaced (best effort).
    if (placing) await agentClient.deleteVolume(host, volumeId).catch(() => undefined);
    throw await fail(3, error);
  }
  await db().volume.updateMany({ where: { id: volumeId, vmId, status: "attaching" }, data: { status: "in-use" } });
  await setStep(taskId, first + 3, "succeeded", vm.status === "running" ? "hot-plugged" : "attached (VM stopped)");
  await audit(who, "volume.attach", volumeId, "success", { vmId, vm: vm.name, host: host.name });
}

/** DELETE /api/v1/vms/:id/volumes/:volumeId */
export async function detachVolume(vmId: string, volumeId: string, who: Caller) {
  const attempt = { action: "volume.detach", clientIp: who.clientIp };
  await requireVmAccess(who.actor, vmId, "vm:operate", attempt);
  await requireVolumeAccess(who.actor, volumeId, "vm:operate", attempt);
  await refuseWhileMoving(vmId);
  const vm = await loadVm(vmId);
  const volume = await db().volume.findUnique({ where: { id: volumeId } });
  if (!vm || !volume) throw new AppError({ code: "not_found", message: `Volume ${volumeId} does not exist.` });
  if (volume.vmId !== vmId)
    throw new AppError({ code: "conflict", message: `Volume ${volume.name} is not attached to ${vm.name}.` });
  if (volume.status !== "in-use")
    throw new AppError({
      code: "conflict",
      message: `Volume ${volume.name} is ${volume.status}; try again when it is in use.`,
    });
  if (!vm.host) throw new AppError({ code: "conflict", message: `${vm.name} is not placed on a host.` });
  const task = await createTask({
    kind: "volume.detach",
    vmId,
    hostId: vm.hostId,
    userId: who.actor.id,
    steps: ["detach"],
  });
  await setStep(task.id, 0, "running");
  const taken = await db().volume.updateMany({
    where: { id: volumeId, vmId, status: "in-use" },
    data: { status: "detaching" },
  });
  try {
    if (taken.count !== 1)
      throw new AppError({ code: "conflict", message: `Volume ${volume.name} changed meanwhile; try again.` });
    await agentClient.putVm(vm.host, vmId, await specFor(vmId));
  } catch (error) {
    const message = error instanceof AppError ? error.message : "The host could not detach the volume.";
    if (taken.count === 1)
      await db().volume.updateMany({ where: { id: volumeId, vmId, status: "detaching" }, data: { status: "in-use" } });
    await setStep(task.id, 0, "failed", message);
    await finishTask(task.id, false, message);
    await audit(who, "volume.detach", volumeId, "error", { vmId, reason: message });
    throw error instanceof AppError ? error : new AppError({ code: "unavailable", message });
  }
  await db().volume.update({ where: { id: volumeId }, data: { vmId: null, status: "available" } });
  await setStep(task.id, 0, "succeeded", vm.status === "running" ? "unplugged" : "detached (VM stopped)");
  await finishTask(task.id, true);
  await audit(who, "volume.detach", volumeId, "success", { vmId, vm: vm.name });
  return getVolume(volumeId);
}
