// Create steps as they happen (image ready, disk, network, starting, running), for the API to
// stream to the controller.
import type { VmCreateStep, VmStepEvent } from "../../../lib/schemas/agent-api";
import { errMessage } from "./errors";

export type StepListener = (event: VmStepEvent) => void;

/** Emits create steps to a listener (the API streams them to the controller); a no-op without one. */
export type StepReporter = {
  emit(name: VmCreateStep, status: VmStepEvent["status"], message?: string): void;
  /** Marks the step running, runs it, marks it succeeded with its message, or failed with the error. */
  run<T>(name: VmCreateStep, fn: () => Promise<{ value: T; message?: string }>): Promise<T>;
  fail(name: VmCreateStep, err: unknown): never;
};

export function stepReporter(listener?: StepListener): StepReporter {
  const emit: StepReporter["emit"] = (name, status, message) => {
    if (!listener) return;
    try {
      listener({
        type: "step",
        name,
        status,
        ...(message ? { message: message.slice(0, 1000) } : {}),
        at: new Date().toISOString(),
      });
    } catch {
      // A listener that cannot deliver (the controller hung up) must not fail the create itself.
    }
  };
  const fail = (name: VmCreateStep, err: unknown): never => {
    emit(name, "failed", errMessage(err));
    throw err;
  };
  return {
    emit,
    fail,
    async run(name, fn) {
      emit(name, "running");
      let out;
      try {
        out = await fn();
      } catch (err) {
        return fail(name, err);
      }
      emit(name, "succeeded", out.message);
      return out.value;
    },
  };
}
