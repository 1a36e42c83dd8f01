// Desired vs actual state of a VM, in words for the VM page (issue 14: reconciliation shows drift).
// Pure: the DTO mapper and the reconciler share it.

export interface DriftInput {
  status: string;
  powerState: string;
  desiredState: string;
}

export type DriftCode =
  | { code: "deleting" }
  | { code: "unreported"; desired: string }
  | { code: "notRunning"; actual: string }
  | { code: "notStopped" };

/** What differs, as a code the console words in the reader's language; null when nothing does. */
export function vmDriftCode(v: DriftInput): DriftCode | null {
  // Transitional states belong to the task that owns them.
  if (["pending", "scheduling", "creating", "deleting"].includes(v.status)) return null;
  if (v.desiredState === "deleted") return { code: "deleting" };
  if (v.status === "unknown") return { code: "unreported", desired: v.desiredState };
  const actual = v.powerState === "running" || v.powerState === "paused" ? "running" : v.powerState;
  if (v.desiredState === "running" && actual !== "running") return { code: "notRunning", actual };
  if (v.desiredState === "stopped" && actual === "running") return { code: "notStopped" };
  return null;
}

/** Null when what the VM does matches what was asked (or a task is still getting it there); English (API). */
export function vmDrift(v: DriftInput): string | null {
  const d = vmDriftCode(v);
  if (!d) return null;
  switch (d.code) {
    case "deleting":
      return "deletion requested but not finished";
    case "unreported":
      return `desired ${d.desired}; the host is not reporting this VM`;
    case "notRunning":
      return `desired running, actually ${d.actual === "shutoff" ? "shut off" : d.actual}`;
    case "notStopped":
      return "desired stopped, actually running";
  }
}
