import "server-only";
// Reconciliation (issue 14): desired vs actual state per VM on hosts that are up. A VM asked to
// run that its host reports shut off (QEMU killed, the host rebooted, the agent restarted without
// it) is started again through the agent, like the Start button; a VM its host does not report at
// all is provisioned there again from its spec, like Retry. Operations in flight are never fought:
// a VM with a running task or a migration is skipped, and a reconcile that failed is not repeated
// until the VM changes (no failed task every few seconds).
import { AppError } from "../../errors";
import { agentClient, HEARTBEAT_INTERVAL_MS } from "../hosts";
import { db, logError, logInfo, recordAudit } from "../platform";
import { CREATE_STEPS, createTask, finishTask, provisionVm, setStep, vmStatusFromAgent } from "../vms";
import { freshHeartbeatMs } from "./ha";

const REPROVISION_STEPS = CREATE_STEPS.filter((s) => s !== "scheduled");

/** A VM not reported must stay so across this many heartbeat intervals before it is re-provisioned. */
const MISSING_INTERVALS = 2;

/** First time this controller saw each VM unreported on a live host (reset when it is reported again). */
const missingSince = new Map<string, { hostId: string; atMs: number }>();

export type ReconcileResult = { started: string[]; reprovisioned: string[]; failed: string[] };

/** The periodic "reconcile" job. `intervalMs` (tests) replaces the heartbeat interval. */
export async function reconcileVms(
  opts: { nowMs?: number; intervalMs?: number; wait?: boolean } = {},
): Promise<ReconcileResult> {
  const nowMs = opts.nowMs ?? Date.now();
  const intervalMs = opts.intervalMs ?? HEARTBEAT_INTERVAL_MS;
  const result: ReconcileResult = { started: [], reprovisioned: [], failed: [] };
  const vms = await db().vm.findMany({
    where: {
      desiredState: "running",
      migratingToHostId: null,
      status: { in: ["stopped", "unknown"] },
      host: {
        status: "online",
        agentUrl: { not: null },
        lastHeartbeatAt: { gte: new Date(nowMs - freshHeartbeatMs()) },
      },
    },
    include: { host: true },
    orderBy: { createdAt: "asc" },
  });
  for (const id of missingSince.keys())
    if (!vms.some((v) => v.id === id && v.status === "unknown")) missingSince.delete(id);
  if (vms.length === 0) return result;
  const ids = vms.map((v) => v.id);
  const busy = new Set(
    (await db().task.findMany({ where: { status: "running", vmId: { in: ids } }, select: { vmId: true } })).map(
      (t) => t.vmId,
    ),
  );
  const lastFailed = new Map<string, Date>();
  for (const t of await db().task.findMany({
    where: { kind: "vm.reconcile", status: "failed", vmId: { in: ids } },
    select: { vmId: true, finishedAt: true },
  }))
    if (t.finishedAt && (lastFailed.get(t.vmId!)?.getTime() ?? 0) < t.finishedAt.getTime())
      lastFailed.set(t.vmId!, t.finishedAt);
  const provisions: Promise<void>[] = [];
  for (const vm of vms) {
    if (busy.has(vm.id)) continue;
    const failedAt = lastFailed.get(vm.id);
    if (failedAt && failedAt >= vm.updatedAt) continue; // nothing changed since the last attempt failed
    try {
      if (vm.status === "stopped") {
        const ok = await startAgain(vm);
        if (ok) result.started.push(vm.id);
        else if (ok === false) result.failed.push(vm.id);
        continue;
      }
      const seen = missingSince.get(vm.id);
      if (!seen || seen.hostId !== vm.hostId) {
        missingSince.set(vm.id, { hostId: vm.hostId!, atMs: nowMs });
        continue;
      }
      // Heartbeats kept coming for MISSING_INTERVALS since we first noticed, none of them with this VM.
      if (vm.host!.lastHeartbeatAt!.getTime() - seen.atMs < MISSING_INTERVALS * intervalMs) continue;
      missingSince.delete(vm.id);
      const started = await reprovision(vm);
      if (started) {
        result.reprovisioned.push(vm.id);
        provisions.push(started.provision);
      }
    } catch (error) {
      logError("reconcile failed", error, { vmId: vm.id });
    }
  }
  if (opts.wait !== false) await Promise.all(provisions);
  return result;
}

type Candidate = {
  id: string;
  name: string;
  hostId: string | null;
  host: Parameters<typeof agentClient.action>[0] | null;
};

/** Desired running, found shut off: the start action's agent call, recorded as a vm.reconcile task (null: not now). */
async function startAgain(vm: Candidate): Promise<boolean | null> {
  const host = vm.host!;
  const reason = `desired running, found shut off on ${host.name}`;
  // Re-checked where the task is written: a user's Stop or a migration that began since the scan wins.
  const task = await db().$transaction(async (tx) => {
    const now = await tx.vm.findUnique({ where: { id: vm.id } });
    const busy = await tx.task.count({ where: { vmId: vm.id, status: "running" } });
    const still = now && now.hostId === vm.hostId && now.desiredState === "running" && !now.migratingToHostId;
    if (!still || busy > 0) return null;
    return createTask({ kind: "vm.reconcile", vmId: vm.id, hostId: vm.hostId, userId: null, steps: ["start"] }, tx);
  });
  if (!task) return null;
  await setStep(task.id, 0, "running", reason);
  try {
    const status = await agentClient.action(host, vm.id, "start");
    // Conditional: a user's stop (desired stopped) or a move meanwhile wins over this start's news.
    await db().vm.updateMany({
      where: { id: vm.id, hostId: vm.hostId, desiredState: "running" },
      data: { status: vmStatusFromAgent(status.powerState), powerState: status.powerState, lastError: null },
    });
    await setStep(task.id, 0, "succeeded", `${reason}; started (power state ${status.powerState})`);
    await finishTask(task.id, true);
    await audit(vm.id, "success", { reason, host: host.name });
    logInfo("reconcile: started", { vmId: vm.id, host: host.name });
    return true;
  } catch (error) {
    const message = `${reason}; starting it failed: ${error instanceof AppError ? error.message : String(error)}`;
    // lastError first: the failed task must finish after the VM's last change (see the skip rule).
    await db().vm.updateMany({ where: { id: vm.id }, data: { lastError: message } });
    await setStep(task.id, 0, "failed", message);
    await finishTask(task.id, false, message);
    await audit(vm.id, "error", { reason: message, host: host.name });
    return false;
  }
}

/**
 * The host is up but does not report the VM (its files are gone: a reinstalled host, a lost
 * state dir): provision it there again from its spec, as a create would. Failure ends like a
 * failed create (the VM in error, Retry and Delete), which is what the VM then is.
 */
async function reprovision(vm: Candidate): Promise<{ provision: Promise<void> } | null> {
  const host = vm.host!;
  const reason = `desired running, but ${host.name} does not report it: provisioning it there again from its image`;
  const taskId = await db().$transaction(async (tx) => {
    const claimed = await tx.vm.updateMany({
      where: { id: vm.id, hostId: vm.hostId, status: "unknown", desiredState: "running", migratingToHostId: null },
      data: { status: "creating", powerState: "unknown" },
    });
    if (claimed.count !== 1) return null;
    const task = await createTask(
      { kind: "vm.reconcile", vmId: vm.id, hostId: vm.hostId, userId: null, steps: REPROVISION_STEPS },
      tx,
    );
    return task.id;
  });
  if (!taskId) return null;
  await audit(vm.id, "success", { reason, host: host.name });
  logInfo("reconcile: re-provisioning", { vmId: vm.id, host: host.name });
  await setStep(taskId, "image ready", "running", reason);
  return { provision: provisionVm(vm.id, taskId) };
}

async function audit(vmId: string, result: "success" | "error", details: Record<string, unknown>) {
  await recordAudit({ actor: null, action: "vm.reconcile", result, targetType: "vm", targetId: vmId, details });
}

/** Tests: forget what this process has seen. */
export function resetReconcileMemoryForTests(): void {
  missingSince.clear();
}
