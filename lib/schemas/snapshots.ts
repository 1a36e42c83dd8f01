// zod schemas of VM snapshots and capture-to-image (issue 13): the JSON API's request bodies and
// answers, shared by the route handlers, the server module (lib/server/snapshots) and the UI.
import { z } from "zod";
import { timestamp } from "./dto";
import { familySchema, imageNameSchema } from "./images";

/** A snapshot name: short, printable, unique per VM. */
export const snapshotNameSchema = z
  .string()
  .trim()
  .min(1, "name is required")
  .max(64, "name is at most 64 characters")
  .regex(/^[^\u0000-\u001f\u007f]+$/, "name may not contain control characters");

/** POST /api/v1/vms/:id/snapshots */
export const createSnapshotSchema = z.object({
  name: snapshotNameSchema,
  /** also save the guest's memory and device state (the VM must be running) */
  memory: z.boolean().default(false),
});
export type CreateSnapshotInput = z.output<typeof createSnapshotSchema>;

/** POST /api/v1/vms/:id/capture: the VM's disk (stopped VM) or one of its snapshots becomes an image. */
export const captureRequestSchema = z.object({
  name: imageNameSchema,
  family: familySchema.optional(),
  snapshotId: z.string().trim().min(1).max(64).optional(),
});
export type CaptureRequest = z.output<typeof captureRequestSchema>;

export const SNAPSHOT_STATUSES = ["creating", "ready", "reverting", "deleting", "error"] as const;

export const snapshotDtoSchema = z.object({
  id: z.string(),
  vmId: z.string(),
  name: z.string(),
  memory: z.boolean(),
  status: z.enum(SNAPSHOT_STATUSES),
  claimedDiskGb: z.number().int().describe("host disk the snapshot holds in the scheduler's accounting"),
  vmStateBytes: z.number().int().describe("size of the saved guest state (0 for disk-only)"),
  lastError: z.string().nullable(),
  createdById: z.string().nullable(),
  createdAt: timestamp,
});
export type SnapshotDto = z.output<typeof snapshotDtoSchema>;
