import "server-only";
// Snapshots of a VM's root disk, optionally with its memory (issue 13): list, create, revert,
// delete. The Snapshot row is the record (its id is the agent's snapshot id); the host's disk is
// claimed for it while it exists (claims.ts). Viewers of the VM's project read; operators act.
import type { z } from "zod";
import type { Snapshot } from "../../generated/sqlite/client";
import { AppError } from "../../errors";
import type { CreateSnapshotInput, snapshotDtoSchema } from "../../schemas/snapshots";
import { agentClient } from "../hosts";
import { db, logError, type Actor, type Caller } from "../platform";
import { getVm, refuseWhileMoving, requireVmAccess, vmStatusFromAgent } from "../vms";
import { claimSnapshotDisk, noRoomError, releaseSnapshotDisk, snapshotClaimGb } from "./claims";
import { reasonOf, runVmTask } from "./task-run";

export const CREATE_SNAPSHOT_STEPS = ["reserve disk", "save snapshot"] as const;
export const REVERT_SNAPSHOT_STEPS = ["revert"] as const;
export const DELETE_SNAPSHOT_STEPS = ["delete on host", "release disk"] as const;

/** Controller states in which a VM has no disk to work on, or another task owns it. */
const BUSY = ["pending", "scheduling", "deleting"];

const conflict = (message: string) => new AppError({ code: "conflict", message });
const snapshotNotFound = (id: string) => new AppError({ code: "not_found", message: `Snapshot ${id} does not exist.` });

export function toSnapshotDto(s: Snapshot) {
  return {
    id: s.id,
    vmId: s.vmId,
    name: s.name,
    memory: s.memory,
    status: s.status as z.input<typeof snapshotDtoSchema>["status"],
    claimedDiskGb: s.claimedDiskGb,
    vmStateBytes: Number(s.vmStateBytes),
    lastError: s.lastError,
    createdById: s.createdById,
    createdAt: s.createdAt,
  } satisfies z.input<typeof snapshotDtoSchema>;
}

async function placedVm(vmId: string) {
  const vm = await db().vm.findUnique({ where: { id: vmId }, include: { host: true } });
  if (!vm) throw new AppError({ code: "not_found", message: `VM ${vmId} does not exist.` });
  if (!vm.host || !vm.hostId) throw conflict("This VM is not placed on a host; it has no disk to snapshot.");
  return { ...vm, host: vm.host, hostId: vm.hostId };
}

/**
 * Running or stopped, as the VM's agent says now. The controller's status is a cache fed by
 * heartbeats (a late "starting" heartbeat can briefly show a running VM as creating), so the host
 * decides; a VM the controller is deleting or has not placed is refused before asking it.
 */
export async function livePowerOf(
  vm: { id: string; status: string; host: Parameters<typeof agentClient.getVm>[0] },
  what: string,
): Promise<"running" | "stopped"> {
  if (BUSY.includes(vm.status)) throw conflict(`Cannot ${what} a VM that is ${vm.status}.`);
  const { powerState } = await agentClient.getVm(vm.host, vm.id);
  const status = vmStatusFromAgent(powerState);
  if (status === "running" || status === "stopped") return status;
  throw conflict(`Cannot ${what} a VM that is ${powerState} on its host; wait until it is running or stopped.`);
}

/** The snapshot of this VM (a snapshot of another VM is not found, whatever its id). */
export async function snapshotOf(vmId: string, snapshotId: string): Promise<Snapshot> {
  const s = await db().snapshot.findFirst({ where: { id: snapshotId, vmId } });
  if (!s) throw snapshotNotFound(snapshotId);
  return s;
}

/** GET /api/v1/vms/:id/snapshots: newest first (the database's record; no agent call). */
export async function listSnapshots(vmId: string, actor: Actor, clientIp: string | null = null) {
  await requireVmAccess(actor, vmId, "read", { action: "vm.snapshot.list", clientIp });
  const rows = await db().snapshot.findMany({ where: { vmId }, orderBy: [{ createdAt: "desc" }, { id: "desc" }] });
  return rows.map(toSnapshotDto);
}

export async function createSnapshot(vmId: string, input: CreateSnapshotInput, who: Caller) {
  await requireVmAccess(who.actor, vmId, "vm:operate", { action: "vm.snapshot.create", clientIp: who.clientIp });
  await refuseWhileMoving(vmId);
  const vm = await placedVm(vmId);
  const power = await livePowerOf(vm, "snapshot");
  if (input.memory && power !== "running")
    throw conflict(
      "A memory snapshot saves a running guest's RAM, and this VM is stopped: start it, or take a disk-only snapshot.",
    );
  const gb = snapshotClaimGb(vm, input.memory);
  let row: Snapshot;
  try {
    row = await db().snapshot.create({
      data: { vmId, name: input.name, memory: input.memory, status: "creating", createdById: who.actor.id },
    });
  } catch (e) {
    if ((e as { code?: unknown } | null)?.code === "P2002")
      throw conflict(`VM ${vm.name} already has a snapshot named "${input.name}".`);
    throw e;
  }
  let claimed = false;
  return runVmTask(
    {
      kind: "vm.snapshot.create",
      vm,
      who,
      steps: CREATE_SNAPSHOT_STEPS,
      details: { snapshotId: row.id, name: input.name, memory: input.memory },
    },
    async (step) => {
      try {
        await step(
          "reserve disk",
          async () => {
            // Claim and record together: a crash cannot leave a claim no row accounts for.
            claimed = await db().$transaction(async (tx) => {
              if (!(await claimSnapshotDisk(tx, vm.hostId, gb))) return false;
              await tx.snapshot.update({ where: { id: row.id }, data: { claimedDiskGb: gb } });
              return true;
            });
            if (!claimed) throw await noRoomError(vm.hostId, gb);
          },
          () => `${gb} GiB on ${vm.host.name}`,
        );
        const made = await step(
          "save snapshot",
          () => agentClient.createSnapshot(vm.host, vm.id, { id: row.id, memory: input.memory }),
          (s) => (s.memory ? `with ${Math.round(s.vmStateBytes / 1024 ** 2)} MiB of guest state` : "disk only"),
        );
        const ready = await db().snapshot.update({
          where: { id: row.id },
          data: { status: "ready", vmStateBytes: BigInt(made.vmStateBytes), lastError: null },
        });
        return { result: toSnapshotDto(ready), details: { claimedDiskGb: gb } };
      } catch (error) {
        await db().$transaction(async (tx) => {
          await tx.snapshot.deleteMany({ where: { id: row.id } });
          if (claimed) await releaseSnapshotDisk(tx, vm.hostId, gb);
        });
        // The agent may have finished after we gave up (a timeout): remove what it made, if anything.
        if (error instanceof AppError && error.code === "unavailable")
          void agentClient
            .deleteSnapshot(vm.host, vm.id, row.id)
            .catch((e) => logError("snapshot cleanup on the host failed", e, { vmId, snapshotId: row.id }));
        throw error;
      }
    },
  );
}

/** Answers the VM as it is afterwards (a disk-only revert of a running VM restarts it). */
export async function revertSnapshot(vmId: string, snapshotId: string, who: Caller) {
  await requireVmAccess(who.actor, vmId, "vm:operate", { action: "vm.snapshot.revert", clientIp: who.clientIp });
  await refuseWhileMoving(vmId);
  const vm = await placedVm(vmId);
  const snap = await snapshotOf(vmId, snapshotId);
  await livePowerOf(vm, "revert");
  // One operation per snapshot at a time: only a ready snapshot turns reverting.
  const taken = await db().snapshot.updateMany({
    where: { id: snap.id, status: "ready" },
    data: { status: "reverting" },
  });
  if (taken.count !== 1)
    throw conflict(`Snapshot "${snap.name}" is ${snap.status}; only a ready snapshot can be reverted to.`);
  try {
    await runVmTask(
      {
        kind: "vm.snapshot.revert",
        vm,
        who,
        steps: REVERT_SNAPSHOT_STEPS,
        details: { snapshotId: snap.id, name: snap.name, memory: snap.memory },
      },
      async (step) => {
        const status = await step(
          "revert",
          () => agentClient.revertSnapshot(vm.host, vm.id, snap.id),
          (s) => `power state ${s.powerState}`,
        );
        await db().vm.update({
          where: { id: vm.id },
          data: {
            status: vmStatusFromAgent(status.powerState),
            powerState: status.powerState,
            desiredState: status.powerState === "shutoff" ? "stopped" : "running",
          },
        });
        return { result: undefined };
      },
    );
  } finally {
    await db().snapshot.updateMany({ where: { id: snap.id, status: "reverting" }, data: { status: "ready" } });
  }
  return getVm(vm.id);
}

/** How long a snapshot may sit in a transitional state before nobody is presumed to work on it. */
const ABANDONED_AFTER_MS = 10 * 60_000;

/**
 * A snapshot left creating/reverting/deleting by a controller that died (its task was failed by the
 * orphaned-task sweep) may be deleted: no snapshot task runs on the VM and the row has not changed
 * for ABANDONED_AFTER_MS. Otherwise only ready and failed snapshots may.
 */
async function abandoned(vmId: string) {
  const working = await db().task.count({
    where: {
      vmId,
      status: "running",
      kind: { in: ["vm.snapshot.create", "vm.snapshot.revert", "vm.snapshot.delete"] },
    },
  });
  if (working > 0) return [];
  return [
    {
      status: { in: ["creating", "reverting", "deleting"] },
      updatedAt: { lt: new Date(Date.now() - ABANDONED_AFTER_MS) },
    },
  ];
}

export async function deleteSnapshot(vmId: string, snapshotId: string, who: Caller) {
  await requireVmAccess(who.actor, vmId, "vm:operate", { action: "vm.snapshot.delete", clientIp: who.clientIp });
  await refuseWhileMoving(vmId);
  const vm = await placedVm(vmId);
  const snap = await snapshotOf(vmId, snapshotId);
  const taken = await db().snapshot.updateMany({
    where: { id: snap.id, OR: [{ status: { in: ["ready", "error"] } }, ...(await abandoned(vmId))] },
    data: { status: "deleting" },
  });
  if (taken.count !== 1) throw conflict(`Snapshot "${snap.name}" is ${snap.status}; wait for it to finish.`);
  await runVmTask(
    {
      kind: "vm.snapshot.delete",
      vm,
      who,
      steps: DELETE_SNAPSHOT_STEPS,
      details: { snapshotId: snap.id, name: snap.name },
    },
    async (step) => {
      try {
        await step("delete on host", () => agentClient.deleteSnapshot(vm.host, vm.id, snap.id));
      } catch (error) {
        const was = snap.status === "ready" ? "ready" : "error";
        await db().snapshot.update({
          where: { id: snap.id },
          data: { status: was, lastError: `Delete failed: ${reasonOf(error)}` },
        });
        throw error;
      }
      await step(
        "release disk",
        () =>
          db().$transaction(async (tx) => {
            await tx.snapshot.delete({ where: { id: snap.id } });
            await releaseSnapshotDisk(tx, vm.hostId, snap.claimedDiskGb);
          }),
        () => `${snap.claimedDiskGb} GiB on ${vm.host.name}`,
      );
      return { result: undefined };
    },
  );
  return { id: snap.id, deleted: true as const };
}
