import "server-only";
// Creating, operating and deleting VMs: validation → placement (atomic claim) → task → agent.
// The agent call runs after the request returns (202); its steps and result land in the task.
import { AppError } from "../errors";
import type { CreateVmInput } from "../schemas/vms";
import type { VmSpecInput } from "../schemas/agent-api";
import { agentClient } from "./agent-client";
import { recordAudit } from "./audit";
import { db } from "./db";
import type { Actor } from "./guard";
import { logError } from "./log";
import { placeAndRecord, releaseHost } from "./placement";
import { CREATE_STEPS, createTask, finishTask, setStep } from "./tasks";
import { getVm } from "./vms";
import { vmStatusFromAgent } from "./fleet";
import { allocateNic, nicSpecsFor, releaseNics } from "./networks";
import { resolveFamily } from "./image-families";
import { cloudInitFor } from "./ssh-keys";
import { defaultDisplay, effectiveDisplay } from "../display";
import { projectForNewVm, requireVmAccess } from "./vm-access";

type Who = { actor: Actor; clientIp: string | null };

async function loadImageFor(input: { imageId: string; arch: string; memoryMb: number; diskGb: number }) {
  const image = await db().image.findUnique({ where: { id: input.imageId } });
  if (!image) throw new AppError({ code: "not_found", message: `Image ${input.imageId} does not exist.` });
  if (image.status !== "ready") throw new AppError({ code: "conflict", message: `Image ${image.name} is ${image.status}, not ready.` });
  if (image.arch !== input.arch) {
    throw new AppError({ code: "unprocessable", message: `Image ${image.name} is built for ${image.arch}; it cannot boot a ${input.arch} VM. Choose an ${input.arch} image.` });
  }
  if (input.memoryMb < image.minMemoryMb) throw new AppError({ code: "unprocessable", message: `Image ${image.name} needs at least ${image.minMemoryMb} MiB of memory.` });
  if (input.diskGb < image.minDiskGb) throw new AppError({ code: "unprocessable", message: `Image ${image.name} needs at least ${image.minDiskGb} GiB of disk.` });
  return image;
}

/** Checks everything that does not depend on capacity; the scheduler decides the rest. */
export async function validateCreate(input: CreateVmInput) {
  // A family resolves to its build for the VM's architecture (and says which arches it has if none).
  const imageId = input.imageId ?? (await resolveFamily(input.family!, input.arch)).id;
  const image = await loadImageFor({ ...input, imageId });
  if (input.networkId) {
    const network = await db().network.findUnique({ where: { id: input.networkId } });
    if (!network) throw new AppError({ code: "not_found", message: `Network ${input.networkId} does not exist.` });
  }
  return image;
}

export async function createVm(input: CreateVmInput, who: Who, opts: { provision?: boolean } = {}) {
  // The project first: an actor who may not create there learns nothing else about the request.
  const projectId = await projectForNewVm(who.actor, input.projectId, { action: "vm.create", clientIp: who.clientIp });
  const image = await validateCreate(input);
  let placed;
  try {
    placed = await placeAndRecord({ arch: input.arch, vcpus: input.vcpus, memoryMb: input.memoryMb, diskGb: input.diskGb, allowEmulation: input.allowEmulation, strategy: input.strategy }, async (tx, p) => {
      const vm = await tx.vm.create({
        data: {
          name: input.name, arch: input.arch, vcpus: input.vcpus, memoryMb: input.memoryMb, diskGb: input.diskGb, imageId: image.id,
          hostId: p.hostId, status: "creating", powerState: "unknown", desiredState: "running", emulated: p.emulated, allowEmulation: input.allowEmulation, ownerId: who.actor.id, projectId, userData: input.userData ?? null,
          display: input.display ?? defaultDisplay(input.arch, image),
        },
      });
      // The NIC's address is taken in the same transaction as the host claim: a create that
      // loses either race leaves neither behind.
      if (input.networkId) await allocateNic(tx, { vmId: vm.id, networkId: input.networkId, position: 0 });
      const task = await createTask({ kind: "vm.create", vmId: vm.id, hostId: p.hostId, userId: who.actor.id, steps: CREATE_STEPS }, tx);
      return { vmId: vm.id, taskId: task.id };
    });
  } catch (error) {
    if (error instanceof AppError) await recordAudit({ actor: who.actor, action: "vm.create", result: "error", targetType: "vm", clientIp: who.clientIp, details: { name: input.name, arch: input.arch, reason: error.message } });
    throw error;
  }
  const { vmId, taskId } = placed.result;
  await setStep(taskId, 0, "succeeded", `placed on ${placed.hostName}${placed.emulated ? " (emulated)" : ""}`);
  await recordAudit({ actor: who.actor, action: "vm.create", result: "success", targetType: "vm", targetId: vmId, clientIp: who.clientIp, details: { name: input.name, arch: input.arch, host: placed.hostName, emulated: placed.emulated, projectId } });
  if (opts.provision !== false) void provisionVm(vmId, taskId);
  return { vm: await getVm(vmId), host: { id: placed.hostId, name: placed.hostName }, task: { id: taskId } };
}

async function specFor(vmId: string): Promise<VmSpecInput> {
  const vm = await db().vm.findUniqueOrThrow({ where: { id: vmId }, include: { image: true } });
  const image = vm.image;
  if (!image) throw new AppError({ code: "conflict", message: "The VM's image was deleted." });
  const nics = await nicSpecsFor(vm.id);
  const boot: VmSpecInput["boot"] =
    image.format === "kernel"
      ? { type: "kernel", imageId: image.id, kernelSha256: image.sha256 ?? undefined, initrdSha256: image.initrdSha256 ?? undefined, cmdline: kernelCmdline(image.cmdline ?? "", nics) }
      : { type: "disk", imageId: image.id, sha256: image.sha256 ?? undefined, format: image.format === "raw" ? "raw" : "qcow2", firmware: image.firmware === "uefi" ? "uefi" : "bios" };
  return { name: vm.name, arch: vm.arch as "x86_64" | "aarch64", vcpus: vm.vcpus, memoryMb: vm.memoryMb, diskGb: vm.diskGb, boot, nics, powerState: vm.desiredState === "stopped" ? "stopped" : "running", allowEmulation: vm.allowEmulation, cloudInit: await cloudInitFor(vm), display: effectiveDisplay(vm.arch as "x86_64" | "aarch64", vm.display, image) };
}

/**
 * Kernel-boot images get their NIC addresses on the command line (`polyarch.ip=a/p,b/p`, the
 * convention of our lightweight images) until cloud-init seeds exist; disk images ignore it.
 */
export function kernelCmdline(base: string, nics: { ip?: string; prefixLength?: number }[]): string {
  const addrs = nics.filter((n) => n.ip && n.prefixLength !== undefined).map((n) => `${n.ip}/${n.prefixLength}`);
  const cleaned = base.split(/\s+/).filter((t) => t && !t.startsWith("polyarch.ip=")).join(" ");
  return addrs.length ? `${cleaned} polyarch.ip=${addrs.join(",")}`.trim() : cleaned;
}

/** Runs the agent side of a create; on failure the VM shows why, and its reservation is released. */
export async function provisionVm(vmId: string, taskId: string): Promise<void> {
  const vm = await db().vm.findUniqueOrThrow({ where: { id: vmId }, include: { host: true } });
  const host = vm.host!;
  try {
    for (const position of [1, 2, 3]) await setStep(taskId, position, "running");
    const status = await agentClient.putVm(host, vm.id, await specFor(vm.id));
    for (const position of [1, 2, 3]) await setStep(taskId, position, "succeeded");
    await setStep(taskId, 4, "succeeded", `${status.accel === "kvm" ? "KVM" : "TCG (emulated)"}, pid ${status.pid ?? "?"}`);
    const running = status.powerState === "running";
    await setStep(taskId, 5, running ? "succeeded" : "running", status.qmpStatus ? `QMP status ${status.qmpStatus}` : undefined);
    await db().vm.update({ where: { id: vm.id }, data: { status: vmStatusFromAgent(status.powerState), powerState: status.powerState, emulated: status.emulated, lastError: null } });
    await finishTask(taskId, true);
  } catch (error) {
    const message = error instanceof AppError ? error.message : "Provisioning failed on the host; see the controller log.";
    if (!(error instanceof AppError)) logError("provisioning failed", error, { vmId });
    await failCreate(vm.id, taskId, host.id, vm, message);
  }
}

async function failCreate(vmId: string, taskId: string, hostId: string, size: { vcpus: number; memoryMb: number; diskGb: number }, message: string) {
  const steps = await db().taskStep.findMany({ where: { taskId, status: "running" } });
  for (const s of steps) await setStep(taskId, s.position, "failed", message);
  await finishTask(taskId, false, message);
  // Release the reservation and detach from the host in one transaction: the VM keeps its
  // record (error + reason) so the operator can retry or delete it.
  await db().$transaction(async (tx) => {
    await releaseHost(hostId, size, tx);
    await tx.vm.update({ where: { id: vmId }, data: { status: "error", powerState: "unknown", hostId: null, lastError: message } });
  });
  // Best effort: the agent cleans up partial work itself; this catches a timed-out PUT.
  const host = await db().host.findUnique({ where: { id: hostId } });
  if (host) await agentClient.deleteVm(host, vmId).catch(() => undefined);
}

const ALLOWED: Record<string, string[]> = {
  start: ["stopped", "unknown", "running"],
  stop: ["running", "unknown"],
  reboot: ["running"],
  poweroff: ["running", "unknown", "creating"],
};

export async function vmAction(id: string, action: "start" | "stop" | "reboot" | "poweroff" | "retry", who: Who) {
  await requireVmAccess(who.actor, id, "vm:operate", { action: `vm.${action}`, clientIp: who.clientIp });
  const vm = await db().vm.findUnique({ where: { id }, include: { host: true } });
  if (!vm) throw new AppError({ code: "not_found", message: `VM ${id} does not exist.` });
  if (action === "retry") return retryCreate(vm.id, who);
  if (!ALLOWED[action]!.includes(vm.status)) throw new AppError({ code: "conflict", message: `Cannot ${action} a VM that is ${vm.status}.` });
  if (!vm.host) throw new AppError({ code: "conflict", message: "This VM is not placed on a host; retry or delete it." });
  const task = await createTask({ kind: `vm.${action}`, vmId: vm.id, hostId: vm.hostId, userId: who.actor.id, steps: [action] });
  await setStep(task.id, 0, "running");
  try {
    const status = await agentClient.action(vm.host, vm.id, action);
    await db().vm.update({ where: { id }, data: { status: vmStatusFromAgent(status.powerState), powerState: status.powerState, desiredState: action === "start" || action === "reboot" ? "running" : "stopped" } });
    await setStep(task.id, 0, "succeeded", `power state ${status.powerState}`);
    await finishTask(task.id, true);
    await recordAudit({ actor: who.actor, action: `vm.${action}`, result: "success", targetType: "vm", targetId: id, clientIp: who.clientIp });
  } catch (error) {
    const message = error instanceof AppError ? error.message : "The action failed on the host.";
    await setStep(task.id, 0, "failed", message);
    await finishTask(task.id, false, message);
    await recordAudit({ actor: who.actor, action: `vm.${action}`, result: "error", targetType: "vm", targetId: id, clientIp: who.clientIp, details: { reason: message } });
    throw error;
  }
  return getVm(id);
}

async function retryCreate(id: string, who: Who) {
  const vm = await db().vm.findUniqueOrThrow({ where: { id } });
  if (vm.status !== "error" || vm.hostId) throw new AppError({ code: "conflict", message: "Only a VM whose creation failed can be retried." });
  if (!vm.imageId) throw new AppError({ code: "conflict", message: "The VM's image was deleted; delete the VM." });
  const image = await loadImageFor({ imageId: vm.imageId, arch: vm.arch, memoryMb: vm.memoryMb, diskGb: vm.diskGb });
  const placed = await placeAndRecord({ arch: vm.arch as "x86_64" | "aarch64", vcpus: vm.vcpus, memoryMb: vm.memoryMb, diskGb: vm.diskGb, allowEmulation: vm.allowEmulation }, async (tx, p) => {
    await tx.vm.update({ where: { id }, data: { hostId: p.hostId, status: "creating", emulated: p.emulated, lastError: null } });
    const task = await createTask({ kind: "vm.create", vmId: id, hostId: p.hostId, userId: who.actor.id, steps: CREATE_STEPS }, tx);
    return task.id;
  });
  await setStep(placed.result, 0, "succeeded", `placed on ${placed.hostName}${placed.emulated ? " (emulated)" : ""}`);
  await recordAudit({ actor: who.actor, action: "vm.retry", result: "success", targetType: "vm", targetId: id, clientIp: who.clientIp, details: { image: image.name, host: placed.hostName } });
  void provisionVm(id, placed.result);
  return getVm(id);
}

export async function deleteVm(id: string, who: Who) {
  await requireVmAccess(who.actor, id, "vm:operate", { action: "vm.delete", clientIp: who.clientIp });
  const vm = await db().vm.findUnique({ where: { id }, include: { host: true } });
  if (!vm) throw new AppError({ code: "not_found", message: `VM ${id} does not exist.` });
  if (vm.status === "creating") throw new AppError({ code: "conflict", message: "The VM is still being created; wait for it to finish or fail, then delete it." });
  const task = await createTask({ kind: "vm.delete", vmId: vm.id, hostId: vm.hostId, userId: who.actor.id, steps: ["remove from host", "release capacity"] });
  await db().vm.update({ where: { id }, data: { status: "deleting", desiredState: "deleted" } });
  try {
    await setStep(task.id, 0, "running");
    if (vm.host) await agentClient.deleteVm(vm.host, vm.id);
    await setStep(task.id, 0, "succeeded");
  } catch (error) {
    const message = error instanceof AppError ? error.message : "The host could not remove the VM.";
    await setStep(task.id, 0, "failed", message);
    await finishTask(task.id, false, message);
    await db().vm.update({ where: { id }, data: { status: "error", lastError: `Delete failed: ${message}` } });
    await recordAudit({ actor: who.actor, action: "vm.delete", result: "error", targetType: "vm", targetId: id, clientIp: who.clientIp, details: { reason: message } });
    throw error;
  }
  await db().$transaction(async (tx) => {
    if (vm.hostId) await releaseHost(vm.hostId, vm, tx);
    await releaseNics(tx, id);
    await tx.vm.delete({ where: { id } });
  });
  await setStep(task.id, 1, "succeeded");
  await finishTask(task.id, true);
  await recordAudit({ actor: who.actor, action: "vm.delete", result: "success", targetType: "vm", targetId: id, clientIp: who.clientIp, details: { name: vm.name } });
}
