// Status vocabularies per entity as plain arrays, without zod: the list components import these, so the
// validator stays out of the pages' first-load JS (issue 16). ./entities re-exports them with the schemas.
export const HOST_STATUSES = ["online", "offline", "maintenance", "disabled"] as const;
export const HOST_ADMIN_STATES = ["enabled", "maintenance", "disabled"] as const;
export const IMAGE_STATUSES = ["pending", "uploading", "validating", "ready", "error"] as const;
export const IMAGE_FORMATS = ["qcow2", "raw", "iso", "kernel"] as const;
export const VM_STATUSES = [
  "pending",
  "scheduling",
  "creating",
  "running",
  "stopped",
  "error",
  "deleting",
  "unknown",
] as const;

/** Task results as the events page filters them; "running" also covers tasks not yet started. */
export const TASK_RESULTS = ["running", "succeeded", "failed"] as const;
export const TASK_STATUSES = ["pending", "running", "succeeded", "failed"] as const;
