import "server-only";
// Tasks with ordered steps: what the UI shows while a VM is created or operated.
import { db, type Db } from "../platform";
import { activeControllerId } from "../platform";

type Tx = Parameters<Parameters<Db["$transaction"]>[0]>[0];

export const CREATE_STEPS = ["scheduled", "image ready", "disk", "network", "starting", "running"] as const;

export async function createTask(data: { kind: string; vmId?: string; hostId?: string | null; userId?: string | null; steps: readonly string[] }, tx: Tx | Db = db()) {
  return tx.task.create({
    data: {
      kind: data.kind, vmId: data.vmId, hostId: data.hostId ?? null, userId: data.userId ?? null, status: "running", startedAt: new Date(),
      controllerId: activeControllerId(),
      steps: { create: data.steps.map((name, position) => ({ name, position })) },
    },
  });
}

export async function setStep(taskId: string, position: number, status: "running" | "succeeded" | "failed" | "skipped", message?: string) {
  const now = new Date();
  await db().taskStep.update({
    where: { taskId_position: { taskId, position } },
    data: { status, message: message ?? null, ...(status === "running" ? { startedAt: now } : { finishedAt: now }) },
  });
}

export async function finishTask(taskId: string, ok: boolean, error?: string) {
  await db().task.update({ where: { id: taskId }, data: { status: ok ? "succeeded" : "failed", error: error ?? null, finishedAt: new Date() } });
  if (!ok) await db().taskStep.updateMany({ where: { taskId, status: { in: ["pending", "running"] } }, data: { status: "skipped" } });
}

export async function listTasksForVm(vmId: string, take = 20) {
  return db().task.findMany({ where: { vmId }, orderBy: { createdAt: "desc" }, take, include: { steps: { orderBy: { position: "asc" } } } });
}
