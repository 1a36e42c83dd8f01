// The console's API for VMs that move (issue 14): migrate, cancel, the per-host compatibility
// preview, HA, maintenance with evacuation. The agent half is ./agent-migration.ts.
import { z } from "zod";
import { ARCHES } from "../arch";
import { HOST_STATUSES } from "./entities";
import { hostnameSchema, vmDisplayNameSchema } from "./display-name";

const arch = z.enum(ARCHES);

/** POST /api/v1/vms/:id/migrate — no hostId: the scheduler picks; live defaults to "the VM is running". */
export const migrateRequestSchema = z
  .object({
    hostId: z.string().trim().min(1).max(64).optional(),
    live: z.boolean().optional(),
  })
  .strict();
export type MigrateRequest = z.output<typeof migrateRequestSchema>;

/** PATCH /api/v1/vms/:id: HA, the display name (any script) and the guest hostname (RFC 1123). */
export const vmPatchSchema = z
  .object({ ha: z.boolean().optional(), name: vmDisplayNameSchema.optional(), hostname: hostnameSchema.optional() })
  .strict()
  .refine((v) => v.ha !== undefined || v.name !== undefined || v.hostname !== undefined, {
    message: "send at least one of ha, name, hostname",
  })
  // Each is its own transaction with its host: one request changing both could end half done.
  .refine((v) => v.ha === undefined || (v.name === undefined && v.hostname === undefined), {
    message: "change HA and the names (name, hostname) in separate requests",
    path: ["ha"],
  });

/** POST /api/v1/hosts/:id/maintenance — enter maintenance (nothing new is placed), evacuating by default. */
export const maintenanceRequestSchema = z.object({ evacuate: z.boolean().default(true) }).strict();

export const MIGRATION_MODES = ["live", "cold"] as const;

/** One host in a migration preview: can the VM move there, and why not. */
export const migrationHostVerdictSchema = z.object({
  id: z.string(),
  name: z.string(),
  arch,
  status: z.enum(HOST_STATUSES),
  /** true: the VM can move there in this mode */
  ok: z.boolean(),
  /** the current host (never ok) */
  current: z.boolean(),
  /** how the target would run the VM */
  mode: z.enum(["native", "emulated"]).nullable(),
  /** every reason it cannot (empty when ok) */
  reasons: z.array(z.string()),
  /** what holds but could not be fully verified (e.g. an agent that does not report GIC version) */
  warnings: z.array(z.string()),
});
export type MigrationHostVerdict = z.output<typeof migrationHostVerdictSchema>;

/** GET /api/v1/vms/:id/migration-preview */
export const migrationPreviewSchema = z.object({
  vmId: z.string(),
  arch,
  /** live when the VM is running, cold when stopped */
  migrationMode: z.enum(MIGRATION_MODES),
  machineType: z.string().nullable(),
  cpuModel: z.string().nullable(),
  /** why the VM cannot move at all right now (a task running, snapshots, not running or stopped); null = it can */
  blocked: z.string().nullable(),
  /** the host the scheduler would pick, or null */
  recommendedHostId: z.string().nullable(),
  hosts: z.array(migrationHostVerdictSchema),
});
export type MigrationPreview = z.output<typeof migrationPreviewSchema>;

/** What a finished migration task measured (Task.result). */
export const migrationTaskResultSchema = z.object({
  mode: z.enum(MIGRATION_MODES),
  fromHostId: z.string(),
  toHostId: z.string(),
  totalMs: z.number().int(),
  downtimeMs: z.number().int().nullable(),
  bytes: z.number().int(),
});
export type MigrationTaskResult = z.output<typeof migrationTaskResultSchema>;
