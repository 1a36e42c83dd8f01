import "server-only";
// One snapshot or capture operation = one task with named steps and one audit record (success or
// error), whichever path called it. The step that throws is marked failed with the reason; the
// steps after it are skipped by finishTask.
import { AppError } from "../../errors";
import { recordAudit, type Caller } from "../platform";
import { createTask, finishTask, setStep } from "../vms";

export type Step = <T>(name: string, run: () => Promise<T>, done?: (result: T) => string | undefined) => Promise<T>;

export const reasonOf = (error: unknown) => (error instanceof AppError ? error.message : "internal error");

export async function runVmTask<T>(
  op: {
    kind: string;
    vm: { id: string; hostId: string | null };
    who: Caller;
    steps: readonly string[];
    details?: Record<string, unknown>;
  },
  run: (step: Step) => Promise<{ result: T; details?: Record<string, unknown> }>,
): Promise<T> {
  const task = await createTask({
    kind: op.kind,
    vmId: op.vm.id,
    hostId: op.vm.hostId,
    userId: op.who.actor.id,
    steps: op.steps,
  });
  const step: Step = async (name, fn, done) => {
    await setStep(task.id, name, "running");
    try {
      const result = await fn();
      await setStep(task.id, name, "succeeded", done?.(result));
      return result;
    } catch (error) {
      await setStep(task.id, name, "failed", reasonOf(error));
      throw error;
    }
  };
  const audit = (result: "success" | "error", details: Record<string, unknown>) =>
    recordAudit({
      actor: op.who.actor,
      action: op.kind,
      result,
      targetType: "vm",
      targetId: op.vm.id,
      clientIp: op.who.clientIp,
      details: { ...op.details, ...details },
    });
  try {
    const { result, details } = await run(step);
    await finishTask(task.id, true);
    await audit("success", details ?? {});
    return result;
  } catch (error) {
    await finishTask(task.id, false, reasonOf(error));
    await audit("error", { reason: reasonOf(error) });
    throw error;
  }
}
