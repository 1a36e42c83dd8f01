// The agent side of moving a VM between hosts (issue 14, ADR 035). The controller drives every
// step; agents never call each other's API. Only QEMU talks to QEMU: the target's NBD server and
// migration listener, on the target agent's own address (the host part of its agent URL).
//
// Live (running VM, same arch):
//   1. target  POST /v1/vms/:id/migration/incoming  {spec, disks}      -> 201 migrationTargetSchema
//      image ready, blank qcow2 per disk (the source's virtual size), network, QEMU started with
//      `-incoming defer` (paused), an NBD server exporting the disks writable, migrate-incoming.
//   2. source  POST /v1/vms/:id/migration/outgoing  {target, ...}     -> 200 ndjson:
//      migrationProgressEvent lines, then one vmPutStreamEnd line (result body = migrationResult).
//      blockdev-mirror (sync full) of every disk to the target's exports; when all are ready,
//      `migrate` the memory; the source guest ends paused (postmigrate), mirrors cancelled in sync.
//   3. target  POST /v1/vms/:id/migration/complete                     -> 200 vmStatus (running)
//      NBD server stopped, the guest resumed (cont).
//   4. source  POST /v1/vms/:id/migration/release                      -> 200 {id, released}
//      the paused source QEMU stopped, the VM's files and the volumes that moved removed.
//   On any failure or a cancel: source POST .../migration/cancel (migrate_cancel, block-job-cancel,
//   cont: the guest keeps running there) and target POST .../migration/abort (incoming QEMU killed,
//   its files and received volumes removed). Both are idempotent.
//
// Cold (stopped VM): for each disk, source GET /v1/vms/:id/disks/:disk (standalone qcow2, the root
// flattened off its image; header x-polyarch-sha256) -> target PUT /v1/vms/:id/disks/:disk (same
// header; the target verifies size and SHA-256 and keeps nothing on a mismatch); then target
// PUT /v1/vms/:id with the spec (powerState stopped) adopts the received root disk; then source
// POST .../migration/release.
import { z } from "zod";
import { MAX_VM_VOLUMES, safeIdSchema, sha256Schema, vmSpecSchema } from "./agent-api";

/** "root" (the VM's root disk) or a data volume's id. */
export const diskNameSchema = z.union([z.literal("root"), safeIdSchema]);
export type DiskName = z.output<typeof diskNameSchema>;

/** Header carrying a disk transfer's SHA-256 (hex) on GET and PUT /v1/vms/:id/disks/:disk. */
export const DISK_SHA256_HEADER = "x-polyarch-sha256";
export const diskTransferHeadersSchema = z.object({ sha256: sha256Schema, sizeBytes: z.number().int().min(1) });

export const migrationIncomingSchema = z.object({
  /** the VM's spec on the target; spec.generation = the VM's next generation */
  spec: vmSpecSchema,
  /** virtual size in bytes of each disk to receive: "root" and every attached volume */
  disks: z
    .array(z.object({ name: diskNameSchema, sizeBytes: z.number().int().min(1) }))
    .min(1)
    .max(1 + MAX_VM_VOLUMES)
    .refine((d) => d.some((x) => x.name === "root"), "the root disk must be among the disks"),
});
export type MigrationIncoming = z.output<typeof migrationIncomingSchema>;

/** Where the source's QEMU sends the disks and the memory (all on the target agent's address). */
export const migrationTargetSchema = z.object({
  /** QEMU migration URI, tcp:<host>:<port> */
  migrationUri: z
    .string()
    .max(300)
    .regex(/^tcp:[A-Za-z0-9.:[\]-]+:\d{1,5}$/, "migrationUri is tcp:<host>:<port>"),
  nbd: z.object({
    host: z.string().max(255),
    port: z.number().int().min(1).max(65535),
    exports: z
      .array(z.object({ disk: diskNameSchema, name: z.string().max(128) }))
      .min(1)
      .max(1 + MAX_VM_VOLUMES),
  }),
});
export type MigrationTarget = z.output<typeof migrationTargetSchema>;

export const migrationOutgoingSchema = z.object({
  target: migrationTargetSchema,
  /** the pause QEMU aims for at the switch-over */
  downtimeLimitMs: z.number().int().min(10).max(60_000).default(300),
  /** bytes per second for memory and mirror; 0 = unlimited */
  bandwidth: z.number().int().min(0).default(0),
});
export type MigrationOutgoing = z.output<typeof migrationOutgoingSchema>;

export const migrationProgressEventSchema = z.object({
  type: z.literal("progress"),
  phase: z.enum(["mirror", "memory", "completing"]),
  percent: z.number().min(0).max(100),
  transferredBytes: z.number().int().min(0),
  remainingBytes: z.number().int().min(0),
});
export type MigrationProgressEvent = z.output<typeof migrationProgressEventSchema>;

/** The `result` body that ends a successful outgoing stream. */
export const migrationResultSchema = z.object({
  /** from the outgoing request to the source paused with everything sent */
  totalMs: z.number().int().min(0),
  /** the guest's pause: QEMU's measure (query-migrate downtime) for a live copy, the whole copy for a paused one */
  downtimeMs: z.number().int().min(0),
  /** memory bytes sent */
  ramBytes: z.number().int().min(0),
  /** disk bytes mirrored */
  diskBytes: z.number().int().min(0),
  /** "live": pre-copy while the guest ran (KVM); "paused": the guest was paused for the memory copy (TCG, ADR 064) */
  memoryCopy: z.enum(["live", "paused"]).default("live"),
});
export type MigrationResult = z.output<typeof migrationResultSchema>;

export const migrationReleaseResponseSchema = z.object({ id: safeIdSchema, released: z.literal(true) });
export const migrationAbortResponseSchema = z.object({ id: safeIdSchema, aborted: z.literal(true) });
