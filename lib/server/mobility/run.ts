import "server-only";
// What a running migration shares between its live and cold halves: the claim it holds, the
// cancel watch (Task.cancelRequested, polled), throttled progress, and the two ways it ends —
// commit (the VM is on the target) or roll back (the VM stays on the source, nothing claimed).
import { AppError } from "../../errors";
import type { MigrationTaskResult } from "../../schemas/migration";
import type { VmStatus } from "../../schemas/agent-api";
import { db, logError } from "../platform";
import { finishTask, releaseHost, setStep, SPEC_VOLUME_STATES } from "../vms";
import { agentClient, type AgentTarget } from "../hosts";
import { syncRoutersOfVm } from "../routers";

export const LIVE_STEPS = [
  "check",
  "prepare target",
  "copy disks",
  "memory",
  "switch over",
  "clean up source",
] as const;
export const COLD_STEPS = ["check", "copy disks", "verify", "define on target", "clean up source"] as const;

/** How often the orchestrator looks for a cancel request (the API promises ≤ 1 s). */
const CANCEL_POLL_MS = 500;
/** At most one progress write per this interval: ndjson lines may come many per second. */
const PROGRESS_WRITE_MS = 1000;

export type Claim = { vcpus: number; memoryMb: number; diskGb: number };
type HostRow = AgentTarget & { name: string };

export interface MigrationRun {
  vmId: string;
  vmName: string;
  taskId: string;
  mode: "live" | "cold";
  source: HostRow;
  target: HostRow;
  /** what the target claimed for the VM (vCPUs, memory, root disk + volumes) */
  claim: Claim;
  /** the VM's generation before the move; the target runs generation + 1 */
  generation: number;
  volumes: { id: string; sizeGb: number }[];
  /** aborted when a user asks to cancel */
  signal: AbortSignal;
  progress(percent: number): void;
  /** set once the target runs the guest: from then on nothing is undone */
  switched: boolean;
}

export class CancelledError extends AppError {
  constructor() {
    super({ code: "conflict", message: "The migration was cancelled; the VM stays on its host." });
  }
}

/** Throws CancelledError once a cancel was requested. */
export function checkCancel(run: Pick<MigrationRun, "signal">): void {
  if (run.signal.aborted) throw new CancelledError();
}

/** Polls Task.cancelRequested; `onCancel` runs once (it tells the agents at once, not at the next step). */
export function watchCancel(taskId: string, onCancel: () => void): { signal: AbortSignal; stop(): void } {
  const controller = new AbortController();
  const timer = setInterval(() => {
    void db()
      .task.findUnique({ where: { id: taskId }, select: { cancelRequested: true } })
      .then((t) => {
        if (t?.cancelRequested && !controller.signal.aborted) {
          controller.abort();
          onCancel();
        }
      })
      .catch((error) => logError("cancel poll failed", error, { taskId }));
  }, CANCEL_POLL_MS);
  timer.unref?.();
  return { signal: controller.signal, stop: () => clearInterval(timer) };
}

/** Task.progress writes, at most one a second and never backwards; flush() writes the last value. */
export function progressWriter(taskId: string): { set(percent: number): void; flush(): Promise<void> } {
  let latest = 0;
  let written = -1;
  let lastWriteMs = 0;
  let chain: Promise<void> = Promise.resolve();
  const write = () => {
    if (latest === written) return chain;
    const value = latest;
    written = value;
    lastWriteMs = Date.now();
    chain = chain
      .then(() =>
        db()
          .task.update({ where: { id: taskId }, data: { progress: value } })
          .then(() => undefined),
      )
      .catch((error) => logError("task progress not recorded", error, { taskId }));
    return chain;
  };
  return {
    set(percent) {
      latest = Math.max(latest, Math.min(100, Math.round(percent)));
      if (Date.now() - lastWriteMs >= PROGRESS_WRITE_MS) void write();
    },
    flush: () => write(),
  };
}

/**
 * The move took effect: the VM is on the target at the next generation, its volumes with it, the
 * source's claim given back. One transaction, conditional on the run still owning the VM.
 */
export async function commitMove(
  run: Pick<MigrationRun, "vmId" | "source" | "target" | "claim" | "generation">,
  data: { emulated: boolean; powerState: VmStatus["powerState"]; cpuModel?: string | null },
) {
  await db().$transaction(async (tx) => {
    const moved = await tx.vm.updateMany({
      where: { id: run.vmId, migratingToHostId: run.target.id, hostId: run.source.id },
      data: {
        hostId: run.target.id,
        generation: run.generation + 1,
        migratingToHostId: null,
        emulated: data.emulated,
        // What the target reported at the switch: the source's last heartbeat may have said "paused".
        powerState: data.powerState,
        ...(data.cpuModel !== undefined ? { cpuModel: data.cpuModel } : {}),
      },
    });
    if (moved.count !== 1) throw new AppError({ code: "conflict", message: "The VM changed during its migration." });
    await tx.volume.updateMany({
      where: { vmId: run.vmId, status: { in: [...SPEC_VOLUME_STATES] } },
      data: { hostId: run.target.id },
    });
    await releaseHost(run.source.id, run.claim, tx);
  });
  // Floating IPs answer on the host the VM runs on (ADR 059): move them now, not at the next periodic sync.
  void syncRoutersOfVm(run.vmId).catch((error: unknown) => logError("routers.after_move", error, { vmId: run.vmId }));
}

/** Nothing moved: the target's claim is given back and the VM is no longer migrating. */
export async function rollbackMove(run: { vmId: string; target: { id: string }; claim: Claim }): Promise<void> {
  await db().$transaction(async (tx) => {
    const cleared = await tx.vm.updateMany({
      where: { id: run.vmId, migratingToHostId: run.target.id },
      data: { migratingToHostId: null },
    });
    // Only the run that still owned the VM gives the claim back (a sweep may have got there first).
    if (cleared.count === 1) await releaseHost(run.target.id, run.claim, tx);
  });
}

/** Ends the task as failed: the step that was running carries the reason, the rest are skipped. */
export async function failTask(taskId: string, reason: string): Promise<void> {
  await db().taskStep.updateMany({
    where: { taskId, status: "running" },
    data: { status: "failed", message: reason, finishedAt: new Date() },
  });
  await finishTask(taskId, false, reason);
}

export async function succeedTask(taskId: string, result: MigrationTaskResult): Promise<void> {
  await db().task.update({ where: { id: taskId }, data: { progress: 100, result: JSON.stringify(result) } });
  await finishTask(taskId, true);
}

/** setStep with the step's own start/end: "running" now, later "succeeded"/"failed" with a message. */
export const step = {
  start: (run: Pick<MigrationRun, "taskId">, name: string, message?: string) =>
    setStep(run.taskId, name, "running", message),
  done: (run: Pick<MigrationRun, "taskId">, name: string, message?: string) =>
    setStep(run.taskId, name, "succeeded", message),
};

export const GIB = 1024 ** 3;

export function describeBytes(bytes: number): string {
  if (bytes >= GIB) return `${(bytes / GIB).toFixed(1)} GiB`;
  return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}

/** The last step of every move: the source drops its copy; if it cannot now, its next heartbeat's evict does. */
export async function cleanUpSource(run: MigrationRun): Promise<void> {
  await step.start(run, "clean up source");
  try {
    await agentClient.migrationRelease(run.source, run.vmId);
    await step.done(run, "clean up source");
  } catch (error) {
    await step.done(run, "clean up source", `not yet: ${(error as Error).message} — removed at its next heartbeat`);
  }
}
