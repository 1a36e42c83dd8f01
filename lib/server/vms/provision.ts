import "server-only";
// Provisioning runs the agent side of a create. Every way it can fail — the agent refused, the PUT
// timed out, the controller running it died — ends in failProvisioning: the task and its open
// steps fail with the reason, the host's reservation is released, the VM keeps its record in
// `error` (Retry or Delete) and the agent is asked, best effort, to remove what it started; an
// agent that could not be asked (dead, frozen) has its copy evicted by its next heartbeat.
import { AppError } from "../../errors";
import { agentClient } from "../hosts";
import {
  CONTROLLER_LEASE_PREFIX,
  db,
  dbNowMs,
  isDatabaseUnavailable,
  liveControllers,
  logError,
  logInfo,
  recordAudit,
  type AuditInput,
  type Db,
} from "../platform";
import { releaseHost } from "./placement";
import { setStep, StepLog, stepUpdates, writeSteps } from "./tasks";
import type { VmStepEvent } from "../../schemas/agent-api";
import { specFor } from "./spec";
import { vmStatusFromAgent } from "./status";

type Tx = Parameters<Parameters<Db["$transaction"]>[0]>[0];

/**
 * Runs the agent side of a create. The agent streams each step (image ready, disk, network,
 * starting, running) as it completes and each is recorded by name the moment it arrives; on
 * failure the step that failed carries the reason, and failProvisioning undoes the rest.
 */
/**
 * After a placement committed (the VM, its claim and its task): the "scheduled" step, the audit entry,
 * then provisioning — which runs (and ends the task) even when those two writes failed because the
 * database went away, else the task would stay running for ever. `provision: false` (tests) stops
 * short of the agent.
 */
export async function noteAndProvision(
  placed: { vmId: string; taskId: string; hostName: string; emulated: boolean },
  audit: AuditInput,
  provision = true,
): Promise<void> {
  try {
    await setStep(placed.taskId, 0, "succeeded", `placed on ${placed.hostName}${placed.emulated ? " (emulated)" : ""}`);
    await recordAudit(audit);
  } finally {
    if (provision) void provisionVm(placed.vmId, placed.taskId);
  }
}

export async function provisionVm(vmId: string, taskId: string): Promise<void> {
  try {
    await provisionOnce(vmId, taskId);
  } catch (error) {
    // Its own database writes failed (PostgreSQL restarting or unreachable). Callers fire and forget,
    // and the orphan sweep only ends tasks of dead controllers: end the task once the database is back.
    await failWhenDatabaseIsBack(taskId, vmId, error);
  }
}

async function failWhenDatabaseIsBack(taskId: string, vmId: string, error: unknown): Promise<void> {
  logError("provisioning could not be recorded", error, { vmId, taskId });
  const reason = isDatabaseUnavailable(error)
    ? "The database was unavailable while the VM was being created; retry or delete it."
    : "Provisioning failed on the controller; see the controller log.";
  await untilDatabaseAnswers("failing a create task", { vmId, taskId }, () => failProvisioning(taskId, vmId, reason));
}

/**
 * A create whose placement transaction failed with a lost connection may have committed all the same
 * (the COMMIT reached the server, its answer did not): the caller got an error, so nothing would ever
 * provision or fail that VM. Once the database answers, its create task, if it exists, is failed.
 */
export async function settleUncertainCreate(vmId: string): Promise<void> {
  await untilDatabaseAnswers("settling an interrupted create", { vmId }, async () => {
    const task = await db().task.findFirst({ where: { vmId, kind: "vm.create", status: "running" } });
    if (task)
      await failProvisioning(
        task.id,
        vmId,
        "The connection to the database was lost while this VM was being created; retry or delete it.",
      );
  });
}

/** Runs `fn` until it succeeds (the database may be restarting), for about ten minutes, then logs why not. */
async function untilDatabaseAnswers(what: string, context: Record<string, unknown>, fn: () => Promise<unknown>) {
  for (let attempt = 1; ; attempt++) {
    try {
      await fn();
      return;
    } catch (e) {
      if (attempt >= 60) return logError(`${what}: gave up`, e, context);
      await new Promise((r) => setTimeout(r, Math.min(1000 * attempt, 10_000)));
    }
  }
}

async function provisionOnce(vmId: string, taskId: string): Promise<void> {
  const vm = await db().vm.findUniqueOrThrow({
    where: { id: vmId },
    select: { id: true, host: { select: { id: true, name: true, agentUrl: true, tokenGeneration: true } } },
  });
  const host = vm.host!;
  // Steps are recorded as they arrive, in order; a burst becomes one transaction (StepLog).
  const steps = new StepLog(taskId, (error) => logError("task steps not recorded", error, { taskId }));
  const onStep = (e: VmStepEvent) => steps.add(e.name, e.status, e.message);
  try {
    const status = await agentClient.putVm(host, vm.id, await specFor(vm.id), onStep);
    // An agent that already had the VM (a retried PUT) reports no steps: settle them from the result.
    // The steps not written yet, the settled rest, the VM and the task: one transaction.
    const running = status.powerState === "running";
    const now = new Date();
    await db().$transaction([
      ...stepUpdates(await steps.settle()),
      db().taskStep.updateMany({
        where: { taskId, status: { in: ["pending", "running"] }, name: { not: "running" } },
        data: { status: "succeeded", finishedAt: now },
      }),
      db().taskStep.updateMany({
        where: { taskId, name: "running", status: { in: ["pending", "running"] } },
        data: running
          ? {
              status: "succeeded",
              finishedAt: now,
              message: status.qmpStatus ? `QMP status ${status.qmpStatus}` : null,
            }
          : { status: "running", startedAt: now },
      }),
      db().vm.update({
        where: { id: vm.id },
        data: {
          status: vmStatusFromAgent(status.powerState),
          powerState: status.powerState,
          emulated: status.emulated,
          lastError: null,
        },
        select: { id: true }, // nothing is read back: the whole row was RETURNING work for nothing
      }),
      db().task.update({
        where: { id: taskId },
        data: { status: "succeeded", error: null, finishedAt: now },
        select: { id: true },
      }),
    ]);
  } catch (error) {
    // The failed step (the agent names it) is written before failProvisioning looks for it.
    await writeSteps(await steps.settle()).catch((e) => logError("task steps not recorded", e, { taskId }));
    const message =
      error instanceof AppError ? error.message : "Provisioning failed on the host; see the controller log.";
    if (!(error instanceof AppError)) logError("provisioning failed", error, { vmId });
    await failProvisioning(taskId, vm.id, message);
  }
}

/**
 * Fails a create task and its VM in one transaction. Returns false when the task was no longer
 * running (another controller's sweep or the provisioning itself got there first): the
 * conditional update makes concurrent failures release the host exactly once.
 */
export async function failProvisioning(taskId: string, vmId: string | null, reason: string): Promise<boolean> {
  const outcome = await db().$transaction(async (tx: Tx) => {
    const taken = await tx.task.updateMany({
      where: { id: taskId, status: "running" },
      data: { status: "failed", error: reason, finishedAt: new Date() },
    });
    if (taken.count !== 1) return { taken: false as const };
    // The step that was running failed (the agent may have named it already); with none running,
    // the first step that never started is where it stopped.
    const open = await tx.taskStep.updateMany({
      where: { taskId, status: "running" },
      data: { status: "failed", message: reason, finishedAt: new Date() },
    });
    const failedAlready = await tx.taskStep.count({ where: { taskId, status: "failed" } });
    if (open.count === 0 && failedAlready === 0) {
      const next = await tx.taskStep.findFirst({ where: { taskId, status: "pending" }, orderBy: { position: "asc" } });
      if (next)
        await tx.taskStep.update({
          where: { id: next.id },
          data: { status: "failed", message: reason, startedAt: new Date(), finishedAt: new Date() },
        });
    }
    await tx.taskStep.updateMany({ where: { taskId, status: "pending" }, data: { status: "skipped" } });
    if (!vmId) return { taken: true as const };
    const vm = await tx.vm.findUnique({ where: { id: vmId } });
    if (!vm || vm.status !== "creating" || !vm.hostId) return { taken: true as const };
    await releaseHost(vm.hostId, vm, tx);
    // A new generation: whatever the agent started anyway (it died or froze mid-create and comes
    // back with the VM) is a stale copy that its next heartbeat evicts (evictionsFor), like a moved one.
    await tx.vm.update({
      where: { id: vm.id },
      data: {
        status: "error",
        powerState: "unknown",
        hostId: null,
        lastError: reason,
        generation: { increment: 1 },
      },
    });
    return { taken: true as const, vmId: vm.id, hostId: vm.hostId };
  });
  if (outcome.taken && outcome.vmId) {
    const host = await db().host.findUnique({ where: { id: outcome.hostId } });
    if (host?.agentUrl) await agentClient.deleteVm(host, outcome.vmId).catch(() => undefined);
  }
  return outcome.taken;
}

/**
 * Tasks left `running` by a controller that is gone (killed, crashed, restarted) are failed with a
 * reason; a VM create among them fails exactly like a failed provisioning. Other tasks are only
 * marked failed; the heartbeat reconciles the VM's state.
 */
export async function sweepOrphanedTasks(): Promise<{ failed: number }> {
  const nowMs = await dbNowMs();
  const running = await db().task.findMany({
    where: { status: "running", controllerId: { not: null } },
    select: { id: true, kind: true, vmId: true, controllerId: true },
  });
  const alive = await liveControllers([...new Set(running.map((t) => t.controllerId!))], nowMs);
  let failed = 0;
  for (const task of running) {
    if (alive.has(task.controllerId!)) continue;
    const reason = `The controller running this task (${task.controllerId}) stopped before it finished.`;
    // Tasks that provision (a create, an HA restart, a re-provision) leave the VM "creating": fail it like a create.
    const provisions = ["vm.create", "vm.ha-restart", "vm.reconcile"].includes(task.kind);
    if (!(await failProvisioning(task.id, provisions ? task.vmId : null, reason))) continue;
    failed++;
    // A delete cut short leaves its VM "deleting", which nothing else ever ends: hand it back to the
    // user to delete again (the heartbeat reports whether its QEMU still runs).
    if (task.kind === "vm.delete" && task.vmId)
      await db().vm.updateMany({
        where: { id: task.vmId, status: "deleting" },
        data: {
          status: "unknown",
          powerState: "unknown",
          lastError: "The delete was interrupted: the controller running it stopped. Delete the VM again.",
        },
      });
  }
  // Liveness leases of controllers gone for a day are forgotten once no running task refers to them.
  const dayAgo = BigInt(nowMs - 86_400_000);
  const old = await db().lease.findMany({
    where: { name: { startsWith: CONTROLLER_LEASE_PREFIX }, expiresAtMs: { lt: dayAgo } },
    select: { name: true, holder: true },
  });
  if (old.length) {
    const referenced = new Set(
      (
        await db().task.findMany({
          where: { status: "running", controllerId: { in: old.map((l) => l.holder) } },
          select: { controllerId: true },
        })
      ).map((t) => t.controllerId),
    );
    const forget = old.filter((l) => !referenced.has(l.holder)).map((l) => l.name);
    if (forget.length) await db().lease.deleteMany({ where: { name: { in: forget }, expiresAtMs: { lt: dayAgo } } });
  }
  if (failed) logInfo("failed tasks of stopped controllers", { failed });
  return { failed };
}
