import "server-only";
// Admin approval of new hosts (ADR 025): a join token lets a node in as "pending"; only an admin
// makes it a placement target. Rejecting deletes the pending host (its token and pin with it).
import { AppError } from "../../errors";
import { db, logInfo, recordAudit, type Actor } from "../platform";

export async function approveHost(hostId: string, who: { actor: Actor; clientIp: string | null }) {
  const host = await db().host.findUnique({ where: { id: hostId } });
  if (!host) throw new AppError({ code: "not_found", message: `Host ${hostId} does not exist.` });
  if (host.revokedAt)
    throw new AppError({
      code: "conflict",
      message: `Host ${host.name} is revoked; it must join again (with a new join token) before it can be approved.`,
    });
  if (host.approval === "approved")
    return { hostId: host.id, approval: "approved" as const, message: `Host ${host.name} is already approved.` };
  await db().host.updateMany({
    where: { id: host.id, approval: "pending" },
    data: { approval: "approved", approvedAt: new Date(), approvedById: who.actor.id },
  });
  await recordAudit({
    actor: who.actor,
    action: "host.approve",
    result: "success",
    targetType: "host",
    targetId: host.id,
    clientIp: who.clientIp,
    details: { name: host.name, arch: host.arch, machineId: host.machineId },
  });
  logInfo("host approved", { hostId: host.id, name: host.name });
  return {
    hostId: host.id,
    approval: "approved" as const,
    message: `Host ${host.name} is approved: VMs may be placed on it.`,
  };
}

/** Only a pending host can be rejected (an approved one is revoked or deleted through the usual paths). */
export async function rejectHost(hostId: string, who: { actor: Actor; clientIp: string | null }) {
  const host = await db().host.findUnique({ where: { id: hostId }, include: { _count: { select: { vms: true } } } });
  if (!host) throw new AppError({ code: "not_found", message: `Host ${hostId} does not exist.` });
  if (host.approval !== "pending")
    throw new AppError({
      code: "conflict",
      message: `Host ${host.name} is not pending approval; revoke it instead.`,
    });
  if (host._count.vms > 0)
    throw new AppError({ code: "conflict", message: `Host ${host.name} has VMs; it cannot be rejected.` });
  const gone = await db().host.deleteMany({ where: { id: host.id, approval: "pending" } });
  if (gone.count !== 1)
    throw new AppError({ code: "conflict", message: `Host ${host.name} was approved meanwhile; revoke it instead.` });
  await recordAudit({
    actor: who.actor,
    action: "host.reject",
    result: "success",
    targetType: "host",
    targetId: host.id,
    clientIp: who.clientIp,
    details: { name: host.name, arch: host.arch, machineId: host.machineId },
  });
  logInfo("host rejected", { hostId: host.id, name: host.name });
  return { hostId: host.id, deleted: true as const, message: `Pending host ${host.name} was rejected and deleted.` };
}
