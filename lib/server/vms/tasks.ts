import "server-only";
// Tasks with ordered steps: what the UI shows while a VM is created or operated.
import { db, type Db } from "../platform";
import { activeControllerId } from "../platform";
import type { z } from "zod";
import type { vmTaskDtoSchema } from "../../schemas/vms";
import { migrationTaskResultSchema } from "../../schemas/migration";
import { AppError } from "../../errors";

type Tx = Parameters<Parameters<Db["$transaction"]>[0]>[0];

export const CREATE_STEPS = ["scheduled", "image ready", "disk", "network", "starting", "running"] as const;

/**
 * A running task with its steps, pending. `done` marks the first step succeeded at creation (a create's
 * "scheduled", known once the placement transaction that writes the task holds the claim). The steps
 * are one multi-row INSERT.
 */
export async function createTask(
  data: {
    kind: string;
    vmId?: string;
    hostId?: string | null;
    userId?: string | null;
    steps: readonly string[];
    done?: { message: string };
  },
  tx: Tx | Db = db(),
) {
  const now = new Date();
  const first = data.done ? { status: "succeeded", message: data.done.message, startedAt: now, finishedAt: now } : {};
  return tx.task.create({
    data: {
      kind: data.kind,
      vmId: data.vmId,
      hostId: data.hostId ?? null,
      userId: data.userId ?? null,
      status: "running",
      startedAt: now,
      controllerId: activeControllerId(),
      steps: {
        createMany: {
          data: data.steps.map((name, position) => ({ name, position, ...(position === 0 ? first : {}) })),
        },
      },
    },
    // Callers need its id only: no read of the whole row back after the inserts.
    select: { id: true },
  });
}

type StepStatus = "running" | "succeeded" | "failed" | "skipped";

/** One step update, as setStep writes it. */
export interface StepWrite {
  where: { taskId: string; position: number } | { taskId: string; name: string };
  data: { status: StepStatus; message: string | null; startedAt?: Date; finishedAt?: Date };
}

function stepWrite(
  taskId: string,
  step: number | string,
  status: StepStatus,
  message?: string,
  at = new Date(),
): StepWrite {
  return {
    where: typeof step === "number" ? { taskId, position: step } : { taskId, name: step },
    data: { status, message: message ?? null, ...(status === "running" ? { startedAt: at } : { finishedAt: at }) },
  };
}

/**
 * Records a step by its name (or position), stamped with the controller's time of the event: each
 * step shows when it really started and ended, not when a batch of updates was written.
 */
export async function setStep(
  taskId: string,
  step: number | string,
  status: StepStatus,
  message?: string,
  at = new Date(),
) {
  await db().taskStep.updateMany(stepWrite(taskId, step, status, message, at));
}

/** The step updates as Prisma operations, for a batch transaction together with the caller's own writes. */
export function stepUpdates(writes: readonly StepWrite[]) {
  return writes.map((w) => db().taskStep.updateMany(w));
}

/** Writes step updates in order: one statement, or one transaction for several. */
export async function writeSteps(writes: readonly StepWrite[]): Promise<void> {
  if (writes.length === 1) await db().taskStep.updateMany(writes[0]!);
  else if (writes.length > 1) await db().$transaction(stepUpdates(writes));
}

/**
 * The steps an agent streams, recorded as they arrive with their own times (setStep's semantics),
 * written in order. Events that arrive together (one chunk of the stream) become one transaction,
 * and a step's "running" then "succeeded" one update: a fast agent costs one commit, not ten.
 * settle() hands back what is not written yet, for the caller's final transaction.
 */
export class StepLog {
  private queue: StepWrite[] = [];
  private keys: string[] = [];
  private writing: Promise<void> = Promise.resolve();
  private scheduled: NodeJS.Immediate | null = null;

  constructor(
    private readonly taskId: string,
    private readonly onError: (error: unknown) => void,
  ) {}

  add(step: number | string, status: StepStatus, message?: string, at = new Date()): void {
    const write = stepWrite(this.taskId, step, status, message, at);
    const key = `${typeof step}:${step}`;
    // The same row as the last queued update: applying both in turn equals one merged update.
    if (this.keys.at(-1) === key) {
      const last = this.queue[this.queue.length - 1]!;
      last.data = { ...last.data, ...write.data };
    } else {
      this.queue.push(write);
      this.keys.push(key);
    }
    // After the current I/O callbacks: the rest of the chunk (and the end of the answer) joins the batch.
    this.scheduled ??= setImmediate(() => {
      this.scheduled = null;
      const batch = this.take();
      this.writing = this.writing.then(() => writeSteps(batch)).catch(this.onError);
    });
  }

  /** Waits for the writes under way; returns (and forgets) the updates not yet written. */
  async settle(): Promise<StepWrite[]> {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = null;
    await this.writing;
    return this.take();
  }

  private take(): StepWrite[] {
    const batch = this.queue;
    this.queue = [];
    this.keys = [];
    return batch;
  }
}

export async function finishTask(taskId: string, ok: boolean, error?: string) {
  await db().task.update({
    where: { id: taskId },
    data: { status: ok ? "succeeded" : "failed", error: error ?? null, finishedAt: new Date() },
  });
  if (!ok)
    await db().taskStep.updateMany({
      where: { taskId, status: { in: ["pending", "running"] } },
      data: { status: "skipped" },
    });
}

type VmTaskSource = z.input<typeof vmTaskDtoSchema>;

/** Task.result is JSON text; only a migration's measured shape is answered (anything else: null). */
function parseTaskResult(text: string | null): VmTaskSource["result"] {
  if (!text) return null;
  try {
    const parsed = migrationTaskResultSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

const WITH_STEPS = { steps: { orderBy: { position: "asc" as const } } };
/** The columns the DTO reads (both providers' generated clients answer this shape). */
interface TaskRow {
  id: string;
  kind: string;
  status: string;
  vmId: string | null;
  hostId: string | null;
  userId: string | null;
  error: string | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  progress: number | null;
  result: string | null;
  steps: {
    id: string;
    position: number;
    name: string;
    status: string;
    message: string | null;
    startedAt: Date | null;
    finishedAt: Date | null;
  }[];
}

/** One task in the API shape (lib/schemas/vms.ts vmTaskDtoSchema). */
function toTaskDto(t: TaskRow): VmTaskSource {
  return {
    id: t.id,
    kind: t.kind,
    status: t.status as VmTaskSource["status"],
    vmId: t.vmId,
    hostId: t.hostId,
    userId: t.userId,
    error: t.error,
    createdAt: t.createdAt,
    startedAt: t.startedAt,
    finishedAt: t.finishedAt,
    progress: t.progress,
    result: parseTaskResult(t.result),
    steps: t.steps.map((s) => ({
      id: s.id,
      position: s.position,
      name: s.name,
      status: s.status as VmTaskSource["steps"][number]["status"],
      message: s.message,
      startedAt: s.startedAt,
      finishedAt: s.finishedAt,
    })),
  };
}

/** The VM's tasks, newest first, in the API shape (lib/schemas/vms.ts vmTaskDtoSchema). */
export async function listTasksForVm(vmId: string, take = 20) {
  const rows = await db().task.findMany({
    where: { vmId },
    orderBy: [{ createdAt: "desc" }, { id: "desc" }],
    take,
    include: WITH_STEPS,
  });
  return rows.map(toTaskDto);
}

/**
 * The host's own tasks (no VM: host.evacuate), newest first: an evacuation is one task with a step
 * per VM, so the host page can show each VM's outcome.
 */
export async function listTasksForHost(hostId: string, take = 10) {
  if (!(await db().host.findUnique({ where: { id: hostId }, select: { id: true } })))
    throw new AppError({ code: "not_found", message: `Host ${hostId} does not exist.` });
  const rows = await db().task.findMany({
    where: { hostId, vmId: null },
    orderBy: [{ createdAt: "desc" }, { id: "desc" }],
    take,
    include: WITH_STEPS,
  });
  return rows.map(toTaskDto);
}
