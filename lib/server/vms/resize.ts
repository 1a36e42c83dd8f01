import "server-only";
// Resizing a placed VM (issue 13) and the capacity claim it shares with data volumes: what a VM or
// volume adds to (or gives back to) its host is claimed with ONE conditional UPDATE, the same
// pattern as placement (placement.ts claimHost), so two requests can never both take the last room.
import { Prisma } from "../../generated/sqlite/client";
import { AppError } from "../../errors";
import { freeCapacity } from "../../scheduler/capacity";
import { plural, runMode, vcpuLimit } from "../../scheduler/filters";
import { hostSnapshotFromRow } from "../../scheduler/snapshot";
import type { ResizeVmInput } from "../../schemas/volumes";
import { agentClient } from "../hosts";
import { db, recordAudit, type Caller, type Db } from "../platform";
import { requireVmAccess } from "./access";
import { refuseWhileMoving } from "./moving";
import { getVm } from "./queries";
import { specFor } from "./spec";
import { vmStatusFromAgent } from "./status";
import { createTask, finishTask, setStep } from "./tasks";

type Tx = Parameters<Parameters<Db["$transaction"]>[0]>[0];

/** A change of a host's allocation: positive takes room, negative gives it back. */
export type HostDelta = { vcpus: number; memoryMb: number; diskGb: number };

/**
 * Applies `d` to the host's allocation only if every growing dimension still fits its total
 * (physical × allocation ratio − reserved; disk has no overcommit). Shrinking dimensions always
 * pass and never go below zero. Host state (maintenance, offline) does not matter here: the room
 * is for something already on the host; the agent call that follows fails if it is unreachable.
 */
export async function claimHostDelta(tx: Tx | Db, hostId: string, d: HostDelta): Promise<boolean> {
  const changed = await tx.$executeRaw(Prisma.sql`
    UPDATE "Host" SET
      "allocatedCpus" = CASE WHEN "allocatedCpus" + ${d.vcpus} < 0 THEN 0 ELSE "allocatedCpus" + ${d.vcpus} END,
      "allocatedMemoryMb" = CASE WHEN "allocatedMemoryMb" + ${d.memoryMb} < 0 THEN 0 ELSE "allocatedMemoryMb" + ${d.memoryMb} END,
      "allocatedDiskGb" = CASE WHEN "allocatedDiskGb" + ${d.diskGb} < 0 THEN 0 ELSE "allocatedDiskGb" + ${d.diskGb} END
    WHERE "id" = ${hostId}
      AND (${d.vcpus} <= 0 OR "allocatedCpus" + ${d.vcpus} <= "cpuCount" * "cpuAllocationRatio" + 0.000001 - "reservedCpus")
      AND (${d.memoryMb} <= 0 OR "allocatedMemoryMb" + ${d.memoryMb} <= "memoryMb" * "ramAllocationRatio" + 0.000001 - "reservedMemoryMb")
      AND (${d.diskGb} <= 0 OR "allocatedDiskGb" + ${d.diskGb} <= "diskGb" - "reservedDiskGb")`);
  return changed === 1;
}

/** Gives `d` back (the negation always fits). */
export async function releaseHostDelta(tx: Tx | Db, hostId: string, d: HostDelta): Promise<void> {
  await claimHostDelta(tx, hostId, { vcpus: -d.vcpus, memoryMb: -d.memoryMb, diskGb: -d.diskGb });
}

/** Why a claim of `d` did not fit the host, in the scheduler's words (for the 409). */
export async function whyNoRoom(hostId: string, d: HostDelta, what: string): Promise<string> {
  const row = await db().host.findUnique({ where: { id: hostId } });
  if (!row) return `${what}: the host no longer exists.`;
  const free = freeCapacity(hostSnapshotFromRow(row));
  const reasons: string[] = [];
  if (d.vcpus > 0 && d.vcpus > free.vcpus) reasons.push(`needs ${plural(d.vcpus, "more vCPU")}, ${free.vcpus} free`);
  if (d.memoryMb > 0 && d.memoryMb > free.memoryMb)
    reasons.push(`needs ${d.memoryMb} MiB more RAM, ${free.memoryMb} free`);
  if (d.diskGb > 0 && d.diskGb > free.diskGb) reasons.push(`needs ${d.diskGb} GiB more disk, ${free.diskGb} free`);
  // Empty: the room was there when we looked again (another request gave some back meanwhile).
  return `${what} does not fit on host ${row.name}: ${reasons.join("; ") || "its capacity changed meanwhile; try again"}.`;
}

const RESIZABLE = ["running", "stopped"];

/**
 * Resize a VM: vCPUs and memory only while it is stopped, the disk only grows (online on a
 * running VM: the agent's PUT runs block_resize). The difference is claimed on the VM's host in the
 * same transaction that records the new size; nothing changes when it does not fit (409 with the
 * reason) or when the agent refuses (the claim and the row are rolled back).
 */
export async function resizeVm(id: string, input: ResizeVmInput, who: Caller) {
  await requireVmAccess(who.actor, id, "vm:operate", { action: "vm.resize", clientIp: who.clientIp });
  await refuseWhileMoving(id);
  const vm = await db().vm.findUnique({ where: { id }, include: { host: true } });
  if (!vm) throw new AppError({ code: "not_found", message: `VM ${id} does not exist.` });
  const want = {
    vcpus: input.vcpus ?? vm.vcpus,
    memoryMb: input.memoryMb ?? vm.memoryMb,
    diskGb: input.diskGb ?? vm.diskGb,
  };
  const d: HostDelta = {
    vcpus: want.vcpus - vm.vcpus,
    memoryMb: want.memoryMb - vm.memoryMb,
    diskGb: want.diskGb - vm.diskGb,
  };
  const refuse = async (message: string, code: "conflict" | "unprocessable" = "conflict") => {
    await recordAudit({
      actor: who.actor,
      action: "vm.resize",
      result: "error",
      targetType: "vm",
      targetId: id,
      clientIp: who.clientIp,
      details: { reason: message, ...input },
    });
    return new AppError({ code, message });
  };
  if (!vm.host || !RESIZABLE.includes(vm.status))
    throw await refuse(`Only a running or stopped VM can be resized; ${vm.name} is ${vm.status}.`);
  if (d.diskGb < 0)
    throw await refuse(`The disk only grows: ${vm.name} has ${vm.diskGb} GiB, ${want.diskGb} GiB would shrink it.`);
  if ((d.vcpus !== 0 || d.memoryMb !== 0) && vm.status !== "stopped")
    throw await refuse(
      `Stop ${vm.name} before changing its vCPUs or memory (it is ${vm.status}); the disk grows online.`,
    );
  if (d.vcpus === 0 && d.memoryMb === 0 && d.diskGb === 0) return getVm(id);
  const mode = runMode(hostSnapshotFromRow(vm.host), vm.arch as "x86_64" | "aarch64");
  const limit = mode ? vcpuLimit(hostSnapshotFromRow(vm.host), mode) : null;
  if (limit !== null && want.vcpus > limit)
    throw await refuse(
      `${plural(want.vcpus, "vCPU")} exceed the ${limit}-vCPU limit of ${mode === "native" ? "KVM" : "TCG"} for ${vm.arch} on host ${vm.host.name}.`,
    );

  const hostId = vm.host.id;
  const task = await createTask({
    kind: "vm.resize",
    vmId: id,
    hostId,
    userId: who.actor.id,
    steps: ["claim capacity", "apply on host"],
  });
  await setStep(task.id, 0, "running");
  // Claim first, then the row (conditional on the size we read): a concurrent resize that got there
  // first makes ours give its claim back in the same transaction, which commits net zero — no
  // ROLLBACK, which on SQLite's shared connection would also undo other requests' writes.
  const outcome = await db().$transaction(async (tx) => {
    if (!(await claimHostDelta(tx, hostId, d))) return "no-room" as const;
    const updated = await tx.vm.updateMany({
      where: { id, vcpus: vm.vcpus, memoryMb: vm.memoryMb, diskGb: vm.diskGb, hostId, status: { in: RESIZABLE } },
      data: want,
    });
    if (updated.count !== 1) {
      await releaseHostDelta(tx, hostId, d);
      return "raced" as const;
    }
    return "claimed" as const;
  });
  if (outcome !== "claimed") {
    const message =
      outcome === "no-room"
        ? await whyNoRoom(hostId, d, `Resizing ${vm.name}`)
        : `${vm.name} changed while resizing (another resize or a state change); try again.`;
    await setStep(task.id, 0, "failed", message);
    await finishTask(task.id, false, message);
    throw await refuse(message);
  }
  await setStep(task.id, 0, "succeeded", describeDelta(d));
  await setStep(task.id, 1, "running");
  try {
    const status = await agentClient.putVm(vm.host, id, await specFor(id));
    await db().vm.update({
      where: { id },
      data: { status: vmStatusFromAgent(status.powerState), powerState: status.powerState },
    });
  } catch (error) {
    const message = error instanceof AppError ? error.message : "The host could not apply the new size.";
    // Back to the size the agent still has, and the claim given back: nothing changed.
    await db().$transaction(async (tx) => {
      const reverted = await tx.vm.updateMany({
        where: { id, ...want },
        data: { vcpus: vm.vcpus, memoryMb: vm.memoryMb, diskGb: vm.diskGb },
      });
      if (reverted.count === 1) await releaseHostDelta(tx, hostId, d);
    });
    await setStep(task.id, 1, "failed", message);
    await finishTask(task.id, false, message);
    await recordAudit({
      actor: who.actor,
      action: "vm.resize",
      result: "error",
      targetType: "vm",
      targetId: id,
      clientIp: who.clientIp,
      details: { reason: message, ...input },
    });
    throw error instanceof AppError ? error : new AppError({ code: "unavailable", message });
  }
  await setStep(task.id, 1, "succeeded", `${want.vcpus} vCPU, ${want.memoryMb} MiB, ${want.diskGb} GiB`);
  await finishTask(task.id, true);
  await recordAudit({
    actor: who.actor,
    action: "vm.resize",
    result: "success",
    targetType: "vm",
    targetId: id,
    clientIp: who.clientIp,
    details: {
      from: { vcpus: vm.vcpus, memoryMb: vm.memoryMb, diskGb: vm.diskGb },
      to: want,
    },
  });
  return getVm(id);
}

function describeDelta(d: HostDelta): string {
  const sign = (n: number) => (n > 0 ? `+${n}` : String(n));
  const parts = [
    d.vcpus ? `${sign(d.vcpus)} vCPU` : "",
    d.memoryMb ? `${sign(d.memoryMb)} MiB` : "",
    d.diskGb ? `${sign(d.diskGb)} GiB disk` : "",
  ].filter(Boolean);
  return parts.join(", ");
}
