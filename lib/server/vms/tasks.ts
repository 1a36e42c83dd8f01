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

export async function createTask(
  data: { kind: string; vmId?: string; hostId?: string | null; userId?: string | null; steps: readonly string[] },
  tx: Tx | Db = db(),
) {
  return tx.task.create({
    data: {
      kind: data.kind,
      vmId: data.vmId,
      hostId: data.hostId ?? null,
      userId: data.userId ?? null,
      status: "running",
      startedAt: new Date(),
      controllerId: activeControllerId(),
      steps: { create: data.steps.map((name, position) => ({ name, position })) },
    },
  });
}

/**
 * Records a step by its name (or position), stamped with the controller's time of the event: each
 * step shows when it really started and ended, not when a batch of updates was written.
 */
export async function setStep(
  taskId: string,
  step: number | string,
  status: "running" | "succeeded" | "failed" | "skipped",
  message?: string,
  at = new Date(),
) {
  const where = typeof step === "number" ? { taskId, position: step } : { taskId, name: step };
  await db().taskStep.updateMany({
    where,
    data: { status, message: message ?? null, ...(status === "running" ? { startedAt: at } : { finishedAt: at }) },
  });
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
