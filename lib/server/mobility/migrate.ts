import "server-only";
// Migration orchestration (issue 14, ADR 035/037): checks with the preview's verdicts, claims the
// target atomically with the VM's "migrating" mark and its task, then runs the live or cold half
// after the response. Whatever fails, the VM stays on its source with its claims as before.
import { AppError } from "../../errors";
import type { MigrateRequest } from "../../schemas/migration";
import type { MigrationMode } from "../../scheduler/migration";
import { noTargetReason } from "../../scheduler/migration";
import { agentClient } from "../hosts";
import { db, logError, recordAudit, type Actor } from "../platform";
import { claimHost, createTask, releaseHost, requireVmAccess, setStep, vmStatusFromAgent, whyNoRoom } from "../vms";
import { computePreview, migrationPreview, modeFor } from "./preview";
import { runCold, undoCold } from "./migrate-cold";
import { runLive, undoLive } from "./migrate-live";
import {
  CancelledError,
  COLD_STEPS,
  failTask,
  LIVE_STEPS,
  progressWriter,
  rollbackMove,
  succeedTask,
  watchCancel,
  type MigrationRun,
} from "./run";

export { migrationPreview };
export const MIGRATE_TASK = "vm.migrate";

export type MigrateContext = { actor: Actor | null; clientIp?: string | null; skipAccess?: boolean };
export type MigrationOutcome = { ok: boolean; error?: string };

function conflict(message: string, details?: unknown) {
  return new AppError({ code: "conflict", message, details });
}

/**
 * Starts moving a VM: 409 with the reason when it cannot (blocked, wrong mode, the host cannot
 * take it, no host can), 404 for an unknown VM or host. Resolves once the target is claimed and
 * the task exists; `done` settles when the move has finished (never rejects).
 */
export async function startMigration(
  vmId: string,
  req: MigrateRequest,
  ctx: MigrateContext,
): Promise<{ taskId: string; done: Promise<MigrationOutcome> }> {
  if (ctx.actor && !ctx.skipAccess)
    await requireVmAccess(ctx.actor, vmId, "host:manage", { action: "vm.migrate", clientIp: ctx.clientIp });
  const audit = (result: "success" | "error", details: Record<string, unknown>) =>
    recordAudit({
      actor: ctx.actor,
      action: "vm.migrate",
      result,
      targetType: "vm",
      targetId: vmId,
      clientIp: ctx.clientIp,
      details,
    });
  const refuse = async (error: AppError) => {
    await audit("error", { reason: error.message, ...req });
    return error;
  };
  const current = await db().vm.findUnique({ where: { id: vmId }, select: { status: true, name: true } });
  if (!current) throw new AppError({ code: "not_found", message: `VM ${vmId} does not exist.` });
  const natural = modeFor(current.status);
  const mode: MigrationMode = req.live === undefined ? natural : req.live ? "live" : "cold";
  if (mode === "live" && current.status === "stopped")
    throw await refuse(conflict(`${current.name} is stopped: a stopped VM moves cold (live: false).`));
  if (mode === "cold" && current.status === "running")
    throw await refuse(conflict(`${current.name} is running: stop it to move it cold, or move it live.`));

  const { preview, vm, hosts } = await computePreview(vmId, mode);
  if (preview.blocked) throw await refuse(conflict(`${current.name} cannot move: ${preview.blocked}.`));
  if (req.hostId) {
    const verdict = preview.hosts.find((h) => h.id === req.hostId);
    if (!verdict)
      throw await refuse(new AppError({ code: "not_found", message: `Host ${req.hostId} does not exist.` }));
    if (!verdict.ok)
      throw await refuse(
        conflict(`${current.name} cannot move to ${verdict.name}: ${verdict.reasons.join("; ")}.`, verdict),
      );
  }
  const chosen = req.hostId ?? preview.recommendedHostId;
  if (!chosen)
    throw await refuse(
      conflict(`${current.name} cannot move: no host can take it: ${noTargetReason(preview.hosts)}.`, preview),
    );
  const targetId: string = chosen;
  const source = hosts.find((h) => h.host.id === vm.row.hostId)!;
  const target = hosts.find((h) => h.host.id === targetId)!;
  const claim = { vcpus: vm.moving.vcpus, memoryMb: vm.moving.memoryMb, diskGb: vm.moving.diskGb };

  // Claim the target, mark the VM and record the task in one transaction; a lost race gives the
  // claim back in the same transaction (no ROLLBACK on SQLite's shared connection).
  const outcome = await db().$transaction(async (tx) => {
    if (!(await claimHost(tx, targetId, claim))) return { kind: "no-room" as const };
    const busy = await tx.task.count({ where: { vmId, status: "running" } });
    const marked = busy
      ? { count: 0 }
      : await tx.vm.updateMany({
          where: {
            id: vmId,
            hostId: source.host.id,
            migratingToHostId: null,
            status: current.status,
            generation: vm.row.generation,
          },
          data: { migratingToHostId: targetId },
        });
    if (marked.count !== 1) {
      await releaseHost(targetId, claim, tx);
      return { kind: "raced" as const };
    }
    const task = await createTask(
      {
        kind: MIGRATE_TASK,
        vmId,
        hostId: source.host.id,
        userId: ctx.actor?.id ?? null,
        steps: mode === "live" ? LIVE_STEPS : COLD_STEPS,
      },
      tx,
    );
    return { kind: "claimed" as const, taskId: task.id };
  });
  if (outcome.kind !== "claimed")
    throw await refuse(
      conflict(
        outcome.kind === "no-room"
          ? await whyNoRoom(targetId, claim, `Moving ${current.name}`)
          : `${current.name} changed while starting its migration (another task or a state change); try again.`,
      ),
    );
  const taskId = outcome.taskId;
  let sourceRow, targetRow;
  try {
    await setStep(taskId, "check", "running");
    await setStep(
      taskId,
      "check",
      "succeeded",
      `to ${target.host.name} (${mode}), ${claim.vcpus} vCPU, ${claim.memoryMb} MiB, ${claim.diskGb} GiB claimed`,
    );
    await audit("success", { mode, from: source.host.name, to: target.host.name, taskId });
    targetRow = await db().host.findUniqueOrThrow({ where: { id: targetId } });
    sourceRow = await db().host.findUniqueOrThrow({ where: { id: source.host.id } });
  } catch (error) {
    // Nothing was asked of an agent yet: give the claim back and end the task, then report.
    await rollbackMove({ vmId, target: { id: targetId }, claim });
    await failTask(taskId, "The migration could not start; nothing was changed.");
    throw error;
  }
  const progress = progressWriter(taskId);
  // A cancel tells the source at once: its outgoing stream then ends with an error.
  const watch = watchCancel(taskId, () => {
    if (mode === "live" && !run.switched) void agentClient.migrationCancel(sourceRow, vmId).catch(() => undefined);
  });
  const run: MigrationRun = {
    vmId,
    vmName: current.name,
    taskId,
    mode,
    source: sourceRow,
    target: targetRow,
    claim,
    generation: vm.row.generation,
    volumes: vm.volumes,
    signal: watch.signal,
    progress: (p) => progress.set(p),
    switched: false,
  };
  const done = execute(run, vm.row, targetRow, sourceRow).finally(async () => {
    watch.stop();
    await progress.flush();
  });
  return { taskId, done };
}

async function execute(
  run: MigrationRun,
  vm: { arch: string; emulated: boolean; cpuModel: string | null },
  targetRow: Parameters<typeof runCold>[3],
  sourceRow: Parameters<typeof runCold>[3],
): Promise<MigrationOutcome> {
  const startedMs = Date.now();
  try {
    const result =
      run.mode === "live"
        ? await runLive(run, startedMs)
        : await runCold(run, startedMs, { ...vm, arch: vm.arch as "x86_64" | "aarch64" }, targetRow, sourceRow);
    run.progress(100);
    await succeedTask(run.taskId, result);
    return { ok: true };
  } catch (error) {
    // A cancel makes the agents' calls fail with their own words; the task says what the user did.
    const reason =
      run.signal.aborted && !run.switched
        ? new CancelledError().message
        : error instanceof AppError
          ? error.message
          : `The migration failed: ${(error as Error).message ?? String(error)}`;
    if (!(error instanceof AppError) && !run.signal.aborted) logError("migration failed", error, { vmId: run.vmId });
    if (run.switched) {
      // The target runs the guest already: nothing is undone; the heartbeats settle the record.
      await failTask(run.taskId, `${reason} (the VM runs on ${run.target.name})`);
      return { ok: false, error: reason };
    }
    if (run.mode === "live") await undoLive(run);
    else await undoCold(run);
    await rollbackMove(run);
    await refreshFromSource(run);
    await failTask(run.taskId, reason);
    return { ok: false, error: reason };
  }
}

/** After a failed move, the VM's state as its source reports it (it should be running there, as before). */
async function refreshFromSource(run: MigrationRun): Promise<void> {
  try {
    const status = await agentClient.getVm(run.source, run.vmId);
    await db().vm.update({
      where: { id: run.vmId },
      data: { status: vmStatusFromAgent(status.powerState), powerState: status.powerState },
    });
  } catch (error) {
    logError("VM state not refreshed after a failed migration", error, { vmId: run.vmId });
  }
}

/** POST /api/v1/vms/:id/migrate/cancel: marks the running migration; its orchestrator undoes it (≤ 1 s). */
export async function cancelMigration(vmId: string, ctx: MigrateContext): Promise<{ task: { id: string } }> {
  if (ctx.actor && !ctx.skipAccess)
    await requireVmAccess(ctx.actor, vmId, "host:manage", { action: "vm.migrate.cancel", clientIp: ctx.clientIp });
  const task = await db().task.findFirst({
    where: { vmId, kind: MIGRATE_TASK, status: "running" },
    orderBy: { createdAt: "desc" },
  });
  const audit = (result: "success" | "error", details: Record<string, unknown>) =>
    recordAudit({
      actor: ctx.actor,
      action: "vm.migrate.cancel",
      result,
      targetType: "vm",
      targetId: vmId,
      clientIp: ctx.clientIp,
      details,
    });
  if (!task) {
    const error = conflict("No migration of this VM is running.");
    await audit("error", { reason: error.message });
    throw error;
  }
  await db().task.update({ where: { id: task.id }, data: { cancelRequested: true } });
  await audit("success", { taskId: task.id });
  return { task: { id: task.id } };
}
