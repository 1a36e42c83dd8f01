import "server-only";
// Maintenance (issue 14): a host in maintenance takes no new VMs (the scheduler and the claim
// refuse it); entering with `evacuate` also moves every VM away (./evacuate.ts). Exiting puts the
// host back in service. Both are the cloud operator's call (host:manage) and audited.
import { AppError } from "../../errors";
import { getHost } from "../hosts";
import { db, recordAudit, type Caller } from "../platform";
import { createTask } from "../vms";
import { runEvacuation, type EvacuationPlan, type Mover } from "./evacuate";

export const EVACUATE_TASK = "host.evacuate";

async function hostOr404(id: string) {
  const host = await db().host.findUnique({ where: { id }, select: { id: true, name: true, adminState: true } });
  if (!host) throw new AppError({ code: "not_found", message: `Host ${id} does not exist.` });
  return host;
}

/**
 * POST /api/v1/hosts/:id/maintenance. With evacuate: the task (202) whose steps are the host's
 * VMs, run after the response; 409 while an evacuation of this host runs. The maintenance flag
 * and the check for a running evacuation share one transaction that first writes the host row,
 * so two requests at once serialize on that row and the second sees the first's task.
 */
export async function enterMaintenance(
  hostId: string,
  input: { evacuate: boolean },
  who: Caller,
  opts: { mover?: Mover; wait?: boolean } = {},
) {
  const host = await hostOr404(hostId);
  const outcome = await db().$transaction(async (tx) => {
    await tx.host.update({ where: { id: hostId }, data: { adminState: "maintenance" } });
    if (!input.evacuate) return { plan: null };
    const running = await tx.task.findFirst({ where: { kind: EVACUATE_TASK, hostId, status: "running" } });
    if (running) return { busy: running.id };
    const vms = await tx.vm.findMany({
      where: { hostId },
      select: { id: true, name: true },
      orderBy: [{ name: "asc" }, { id: "asc" }],
    });
    const task = await createTask(
      { kind: EVACUATE_TASK, hostId, userId: who.actor.id, steps: vms.map((v) => v.name) },
      tx,
    );
    await tx.task.update({ where: { id: task.id }, data: { progress: 0 } });
    return { plan: { taskId: task.id, hostId, vms } satisfies EvacuationPlan };
  });
  if ("busy" in outcome) {
    const message = `Host ${host.name} is already being evacuated (task ${outcome.busy}).`;
    await audit(who, "host.maintenance", hostId, "error", { name: host.name, evacuate: true, reason: message });
    throw new AppError({ code: "conflict", message });
  }
  await audit(who, "host.maintenance", hostId, "success", {
    name: host.name,
    evacuate: input.evacuate,
    vms: outcome.plan?.vms.length ?? null,
  });
  const plan = outcome.plan;
  if (!plan) return { task: null, host: await getHost(hostId) };
  const run = runEvacuation(plan, { actor: who.actor, clientIp: who.clientIp }, opts.mover);
  if (opts.wait) await run; // tests; the route answers 202 at once
  return { task: { id: plan.taskId }, host: await getHost(hostId) };
}

/** DELETE /api/v1/hosts/:id/maintenance: the host takes new VMs again (a running evacuation stops after its current VM). */
export async function exitMaintenance(hostId: string, who: Caller) {
  const host = await hostOr404(hostId);
  if (host.adminState === "maintenance")
    await db().host.updateMany({ where: { id: hostId, adminState: "maintenance" }, data: { adminState: "enabled" } });
  await audit(who, "host.maintenance.exit", hostId, "success", { name: host.name, was: host.adminState });
  return { host: await getHost(hostId) };
}

async function audit(
  who: Caller,
  action: string,
  hostId: string,
  result: "success" | "error",
  details: Record<string, unknown>,
) {
  await recordAudit({
    actor: who.actor,
    action,
    result,
    targetType: "host",
    targetId: hostId,
    clientIp: who.clientIp,
    details,
  });
}
