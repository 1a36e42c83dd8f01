// Desired vs actual state of a VM, in words for the VM page (issue 14: reconciliation shows drift).
// Pure: the DTO mapper and the reconciler share it.

export interface DriftInput {
  status: string;
  powerState: string;
  desiredState: string;
}

/** Null when what the VM does matches what was asked (or a task is still getting it there). */
export function vmDrift(v: DriftInput): string | null {
  // Transitional states belong to the task that owns them.
  if (["pending", "scheduling", "creating", "deleting"].includes(v.status)) return null;
  if (v.desiredState === "deleted") return "deletion requested but not finished";
  if (v.status === "unknown") return `desired ${v.desiredState}; the host is not reporting this VM`;
  const actual = v.powerState === "running" || v.powerState === "paused" ? "running" : v.powerState;
  if (v.desiredState === "running" && actual !== "running")
    return `desired running, actually ${actual === "shutoff" ? "shut off" : actual}`;
  if (v.desiredState === "stopped" && actual === "running") return "desired stopped, actually running";
  return null;
}
