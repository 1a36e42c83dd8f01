import "server-only";
// Creating a VM: validation → placement (atomic claim with the VM row, NIC and task) → provision.
// The agent call runs after the request returns (202); its steps and result land in the task.
import { randomBytes } from "node:crypto";
import { AppError } from "../../errors";
import type { CreateVmInput } from "../../schemas/vms";
import { defaultDisplay } from "../../display";
import { hostnameFromName } from "../../hostname";
import { auditRow, db, recordAudit, type AuditInput, type Caller, type Db } from "../platform";
import { allocateNic, requireAttachableNetwork } from "../networks";
import { requireVisibleImage, resolveFamily } from "../images";
import { hashLoginPassword, requirePermission } from "../identity";
import { resolveInstanceType } from "../instance-types";
import { placeAndRecord } from "./placement";
import { CREATE_STEPS, createTask } from "./tasks";
import { toVmDto } from "./queries";
import { projectForNewVm } from "./access";
import { requireVmSecurityGroups } from "./firewall-spec";
import { provisionVm, settleUncertainCreate } from "./provision";
import { cpuModelArchProblem, migrationFactsFromRow, pinCpuModel } from "../../scheduler/migration";

type Tx = Parameters<Parameters<Db["$transaction"]>[0]>[0];

/** A fresh id in the shape of Prisma's cuid() default ("c" + 24 lower-case base-36 characters). */
function newRowId(): string {
  return "c" + Array.from(randomBytes(24), (b) => (b % 36).toString(36)).join("");
}

/**
 * The machine type and CPU model the VM keeps for its life (ADR 037): the placed host's QEMU default
 * machine for the arch (null when its agent does not report machine types) and the requested CPU
 * model, else the default for the accelerator it landed on. Throws (rolling back the placement)
 * when the requested model cannot run there. Also the host's name and arch (read here anyway).
 */
export async function pinnedMachine(
  tx: Tx,
  input: { arch: "x86_64" | "aarch64"; cpuModel?: string | null },
  placed: { hostId: string; emulated: boolean },
): Promise<{ machineType: string | null; cpuModel: string; hostName: string; hostArch: string }> {
  const host = await tx.host.findUniqueOrThrow({
    where: { id: placed.hostId },
    // what migrationFactsFromRow and the pin read, not the whole row
    select: {
      name: true,
      arch: true,
      approval: true,
      kvm: true,
      revokedAt: true,
      agentUrl: true,
      qemuVersion: true,
      cpuModel: true,
      facts: true,
    },
  });
  const facts = migrationFactsFromRow(host);
  // "native" without a usable /dev/kvm is still TCG on the host (the agent falls back): pin for TCG.
  const mode = placed.emulated || !host.kvm ? "emulated" : "native";
  const pinned = pinCpuModel(input.arch, mode, input.cpuModel);
  if ("error" in pinned) throw new AppError({ code: "invalid", message: pinned.error });
  return {
    machineType: facts.machines?.[input.arch]?.default ?? null,
    cpuModel: pinned.cpuModel,
    hostName: host.name,
    hostArch: host.arch,
  };
}

type ImageRow = Awaited<ReturnType<typeof requireVisibleImage>>;
type ImageNeed = { arch: string; memoryMb: number; diskGb: number };

export async function loadImageFor(input: { imageId: string } & ImageNeed) {
  const image = await db().image.findUnique({ where: { id: input.imageId } });
  if (!image) throw new AppError({ code: "not_found", message: `Image ${input.imageId} does not exist.` });
  return checkImageFor(image, input);
}

/** The image can boot this VM: ready, of its arch, within its minimum memory and disk. */
function checkImageFor(image: ImageRow, input: ImageNeed): ImageRow {
  if (image.status !== "ready")
    throw new AppError({ code: "conflict", message: `Image ${image.name} is ${image.status}, not ready.` });
  if (image.arch !== input.arch) {
    throw new AppError({
      code: "unprocessable",
      message: `Image ${image.name} is built for ${image.arch}; it cannot boot a ${input.arch} VM. Choose an ${input.arch} image.`,
    });
  }
  if (input.memoryMb < image.minMemoryMb)
    throw new AppError({
      code: "unprocessable",
      message: `Image ${image.name} needs at least ${image.minMemoryMb} MiB of memory.`,
    });
  if (input.diskGb < image.minDiskGb)
    throw new AppError({
      code: "unprocessable",
      message: `Image ${image.name} needs at least ${image.minDiskGb} GiB of disk.`,
    });
  return image;
}

/** The VM's size: from its instance type (one read, checked against the arch), or the custom size its role may give. */
async function sizeFor(input: CreateVmInput, who: Caller) {
  if (input.instanceType !== undefined) {
    const t = await resolveInstanceType(input.instanceType, input.arch);
    return { vcpus: t.vcpus, memoryMb: t.memoryMb, diskGb: t.diskGb, instanceTypeId: t.id, instanceTypeName: t.name };
  }
  await requirePermission(who.actor, "vm:customSize", {
    action: "vm.create",
    targetType: "vm",
    clientIp: who.clientIp,
  });
  // createVmSchema requires all three without an instanceType.
  return {
    vcpus: input.vcpus!,
    memoryMb: input.memoryMb!,
    diskGb: input.diskGb!,
    instanceTypeId: null,
    instanceTypeName: null,
  };
}
export type VmSize = Awaited<ReturnType<typeof sizeFor>>;

/** Checks everything that does not depend on capacity; the scheduler decides the rest. */
export async function validateCreate(input: CreateVmInput, who: Caller) {
  const size = await sizeFor(input, who);
  // A family resolves to its build for the VM's architecture (and says which arches it has if none),
  // among the builds the actor may see; an image they may not see answers 404 like a missing one.
  const imageId = input.imageId ?? (await resolveFamily(input.family!, input.arch, who.actor)).id;
  // The visible row is the one checked (no second read of it).
  const image = await requireVisibleImage(who.actor, imageId, { action: "vm.create", clientIp: who.clientIp });
  return { image: checkImageFor(image, { arch: input.arch, ...size }), size };
}

function createdAudit(
  who: Caller,
  input: CreateVmInput,
  placed: { vmId: string; host: string; emulated: boolean; projectId: string; instanceType: string | null },
): AuditInput {
  return {
    actor: who.actor,
    action: "vm.create",
    result: "success",
    targetType: "vm",
    targetId: placed.vmId,
    clientIp: who.clientIp,
    details: {
      name: input.name,
      arch: input.arch,
      host: placed.host,
      emulated: placed.emulated,
      projectId: placed.projectId,
      ...(placed.instanceType ? { instanceType: placed.instanceType } : {}),
    },
  };
}

export async function createVm(input: CreateVmInput, who: Caller, opts: { provision?: boolean } = {}) {
  // The project first: an actor who may not create there learns nothing else about the request.
  const projectId = await projectForNewVm(who.actor, input.projectId, { action: "vm.create", clientIp: who.clientIp });
  const { image, size } = await validateCreate(input, who);
  const cpuProblem = input.cpuModel ? cpuModelArchProblem(input.arch, input.cpuModel) : null;
  if (cpuProblem) throw new AppError({ code: "invalid", message: cpuProblem });
  // Tenancy: only the VM's project's networks or shared ones (404 if the caller cannot see it, else 403).
  if (input.networkId) await requireAttachableNetwork(who, input.networkId, projectId);
  const securityGroupIds = input.securityGroupIds ?? [];
  await requireVmSecurityGroups(who, securityGroupIds, { name: input.name, projectId }, "vm.create");
  // Hashed before the transaction (SHA-512 crypt is deliberately slow: ~5,000 rounds).
  const loginHash = input.password ? hashLoginPassword(input.password) : null;
  // Chosen here, so a create whose transaction ends in doubt (connection lost at COMMIT) can be found afterwards.
  const newVmId = newRowId();
  let placed;
  try {
    placed = await placeAndRecord(
      {
        arch: input.arch,
        vcpus: size.vcpus,
        memoryMb: size.memoryMb,
        diskGb: size.diskGb,
        allowEmulation: input.allowEmulation,
        strategy: input.strategy,
      },
      async (tx, p) => {
        const pinned = await pinnedMachine(tx, input, p);
        const vm = await tx.vm.create({
          data: {
            id: newVmId,
            name: input.name,
            hostname: input.hostname ?? hostnameFromName(input.name),
            arch: input.arch,
            vcpus: size.vcpus,
            memoryMb: size.memoryMb,
            diskGb: size.diskGb,
            instanceTypeId: size.instanceTypeId,
            imageId: image.id,
            hostId: p.hostId,
            status: "creating",
            powerState: "unknown",
            desiredState: "running",
            emulated: p.emulated,
            allowEmulation: input.allowEmulation,
            ownerId: who.actor.id,
            projectId,
            userData: input.userData ?? null,
            loginPasswordHash: loginHash,
            loginSshKey: input.sshKey ?? null,
            display: input.display ?? defaultDisplay(input.arch, image),
            // An ISO install starts with the ISO in the CD drive and a blank disk of diskGb (spec.ts).
            mediaImageId: image.format === "iso" ? image.id : null,
            machineType: pinned.machineType,
            cpuModel: pinned.cpuModel,
            ha: input.ha ?? false,
          },
        });
        // The NIC's address is taken in the same transaction as the host claim: a create that
        // loses either race leaves neither behind.
        if (input.networkId) await allocateNic(tx, { vmId: vm.id, networkId: input.networkId, position: 0 });
        // In its groups before its spec is first sent: the port is plugged with its firewall.
        if (securityGroupIds.length)
          await tx.vmSecurityGroup.createMany({ data: securityGroupIds.map((groupId) => ({ vmId: vm.id, groupId })) });
        // The task with its "scheduled" step done, and the audit entry: written with the claim, so a
        // create costs one commit before its answer (not three) and never exists without either.
        const where = `${pinned.hostName}${p.emulated ? " (emulated)" : ""}`;
        const task = await createTask(
          {
            kind: "vm.create",
            vmId: vm.id,
            hostId: p.hostId,
            userId: who.actor.id,
            steps: CREATE_STEPS,
            done: { message: `placed on ${where}` },
          },
          tx,
        );
        await tx.auditEvent.create({
          data: auditRow(
            createdAudit(who, input, {
              vmId: vm.id,
              host: pinned.hostName,
              emulated: p.emulated,
              projectId,
              instanceType: size.instanceTypeName,
            }),
          ),
          select: { id: true },
        });
        return { vm, taskId: task.id, host: { id: p.hostId, name: pinned.hostName, arch: pinned.hostArch } };
      },
    );
  } catch (error) {
    if (!(error instanceof AppError)) void settleUncertainCreate(newVmId);
    if (error instanceof AppError)
      await recordAudit({
        actor: who.actor,
        action: "vm.create",
        result: "error",
        targetType: "vm",
        clientIp: who.clientIp,
        details: { name: input.name, arch: input.arch, reason: error.message },
      });
    throw error;
  }
  const { vm, taskId, host } = placed.result;
  // After the answer: the agent side (provision.ts), which ends the task whatever happens.
  if (opts.provision !== false) void provisionVm(vm.id, taskId);
  // The answer is the row just written with what this create read anyway (host and image in the
  // transaction, the instance type before it): getVm's shape without reading the VM back. Only the
  // project's name is read (it may have been renamed since the membership check).
  const project = await db().project.findUnique({ where: { id: projectId }, select: { id: true, name: true } });
  const dto = toVmDto({
    ...vm,
    host,
    image: { id: image.id, name: image.name, format: image.format },
    project,
    instanceType: size.instanceTypeId ? { id: size.instanceTypeId, name: size.instanceTypeName! } : null,
  });
  return { vm: dto, host: { id: placed.hostId, name: placed.hostName }, task: { id: taskId } };
}
