import { z } from "zod";
import { archSchema } from "../arch";
import { displayFits, displaySchema } from "../display";
import { cpuModelSchema, vmNameSchema } from "./agent-api";
import { loginPasswordSchema, sshPublicKeySchema, userDataSchema } from "./ssh-keys";
import { TASK_STATUSES } from "./entities";
import { timestamp } from "./dto";
import { booleanField } from "./boolean";
import { migrationTaskResultSchema } from "./migration";
import { diskGbSchema, memoryMbSchema, vcpusSchema } from "./instance-types";
import { hostnameSchema, vmDisplayNameSchema } from "./display-name";

/**
 * A VM's name is a display name in any script (issue 17); its guest hostname is DNS-safe, derived from
 * the name unless given (lib/hostname.ts). vmNameSchema is the agent's rule for the name it is sent.
 */
export { hostnameSchema, vmDisplayNameSchema, vmNameSchema };

const SIZE_FIELDS = ["vcpus", "memoryMb", "diskGb"] as const;

/** Exactly one of: an instance type, or a custom size with all three fields. */
function checkSizeChoice(
  v: { instanceType?: string; vcpus?: number; memoryMb?: number; diskGb?: number },
  ctx: z.RefinementCtx,
) {
  const given = SIZE_FIELDS.filter((f) => v[f] !== undefined);
  if (v.instanceType !== undefined && given.length > 0)
    ctx.addIssue({
      code: "custom",
      path: ["instanceType"],
      message: `give either instanceType or a custom size (vcpus, memoryMb, diskGb), not both (got instanceType and ${given.join(", ")})`,
    });
  else if (v.instanceType === undefined && given.length < SIZE_FIELDS.length)
    for (const f of SIZE_FIELDS.filter((x) => v[x] === undefined))
      ctx.addIssue({
        code: "custom",
        path: [f],
        message: `${f} is required for a custom size (or give instanceType instead of vcpus, memoryMb and diskGb)`,
      });
}

export const MAX_VM_SECURITY_GROUPS = 16;

export const createVmSchema = z
  .object({
    name: vmDisplayNameSchema,
    /** the guest hostname (RFC 1123); absent = derived from name (数据库01 → shujuku01) */
    hostname: hostnameSchema.optional(),
    arch: archSchema,
    /** an image id, or `family` (one name, a build per arch): exactly one of the two */
    imageId: z.string().min(1).max(64).optional(),
    family: z.string().min(1).max(100).optional(),
    /** an instance type (id or name, ADR 050) instead of vcpus/memoryMb/diskGb: the sizes come from the type */
    instanceType: z.string().trim().min(1, "instanceType is empty").max(64).optional(),
    /** a custom size (roles with vm:customSize): all three, and no instanceType */
    vcpus: vcpusSchema.optional(),
    memoryMb: memoryMbSchema.optional(),
    diskGb: diskGbSchema.optional(),
    networkId: z.string().min(1).max(64).optional().nullable(),
    /** security groups of the VM's project (ADR 052): its port is filtered from the first boot */
    securityGroupIds: z
      .array(z.string().min(1).max(64))
      .max(MAX_VM_SECURITY_GROUPS, `at most ${MAX_VM_SECURITY_GROUPS} security groups`)
      .refine((ids) => new Set(ids).size === ids.length, "a security group is listed twice")
      .optional(),
    allowEmulation: booleanField("allowEmulation").default(false),
    strategy: z.enum(["spread", "pack"]).default("spread"),
    /** cloud-init user-data (#cloud-config or a script), delivered on the NoCloud seed */
    userData: userDataSchema.nullish(),
    /** a password for the image's default user (cloud-init; kept only as a SHA-512 crypt hash) */
    password: loginPasswordSchema.optional(),
    /** one more OpenSSH public key for the default user, besides the owner's keys (Account page) */
    sshKey: sshPublicKeySchema.optional(),
    /** the project the VM belongs to; absent = the creator's first project (they must be a member; admins: any) */
    projectId: z.string().trim().min(1).max(64).nullish(),
    /** graphical display; absent = the default for the arch and image (lib/display.ts) */
    display: displaySchema.optional(),
    /** restart on another host when its host dies (after fencing; ADR 036) */
    ha: booleanField("ha").optional(),
    /**
     * Guest CPU model, pinned for the VM's life (ADR 035). x86_64 with KVM: a named model (e.g.
     * Haswell-noTSX) so the VM can move between different CPUs; "host" only for identical hosts.
     * Absent = the default for how the host runs it. aarch64 with KVM is always "host".
     */
    cpuModel: cpuModelSchema.optional(),
  })
  .superRefine(checkSizeChoice)
  .refine((v) => (v.imageId ? 1 : 0) + (v.family ? 1 : 0) === 1, {
    message: "give either imageId or family (an image family name), not both",
    path: ["imageId"],
  })
  .refine((v) => !(v.password && v.userData), {
    message: "give the password either here or in your user-data (password: …), not both",
    path: ["password"],
  })
  .refine((v) => !v.display || displayFits(v.arch, v.display), {
    message: "this display is not available for the VM's architecture (x86_64: vga; aarch64: none, virtio-gpu, ramfb)",
    path: ["display"],
  });
export type CreateVmInput = z.output<typeof createVmSchema>;
/** What a client sends (POST /api/v1/vms body, createVmAction argument). */
export type CreateVmRequest = z.input<typeof createVmSchema>;

export const VM_ACTIONS = ["start", "stop", "reboot", "poweroff", "retry"] as const;
export type VmActionName = (typeof VM_ACTIONS)[number];
export const vmActionSchema = z.enum(VM_ACTIONS, { error: `action must be one of: ${VM_ACTIONS.join(", ")}` });
export const vmActionRequestSchema = z.object({ action: vmActionSchema });
export const vmIdSchema = z.object({ id: z.string().min(1).max(64) });

export const TASK_STEP_STATUSES = ["pending", "running", "succeeded", "failed", "skipped"] as const;

/** GET /api/v1/vms/:id/tasks: the VM's tasks, newest first, with their ordered steps. */
export const vmTaskDtoSchema = z.object({
  id: z.string(),
  kind: z.string().describe("vm.create | vm.start | vm.stop | vm.reboot | vm.poweroff | vm.delete | …"),
  status: z.enum(TASK_STATUSES),
  vmId: z.string().nullable(),
  hostId: z.string().nullable(),
  userId: z.string().nullable().describe("who started it"),
  error: z.string().nullable(),
  createdAt: timestamp,
  startedAt: timestamp.nullable(),
  finishedAt: timestamp.nullable(),
  progress: z
    .number()
    .int()
    .min(0)
    .max(100)
    .nullable()
    .describe("0-100 while a long task runs (migration, evacuation)"),
  result: migrationTaskResultSchema
    .nullable()
    .describe("what a finished migration measured (total time, downtime, bytes); null for other tasks"),
  steps: z.array(
    z.object({
      id: z.string(),
      position: z.number().int(),
      name: z.string(),
      status: z.enum(TASK_STEP_STATUSES),
      message: z.string().nullable(),
      startedAt: timestamp.nullable(),
      finishedAt: timestamp.nullable(),
    }),
  ),
});
export type VmTaskDto = z.output<typeof vmTaskDtoSchema>;
export type TaskStepDto = VmTaskDto["steps"][number];

/** GET /api/v1/vms/:id/events: the VM's own audit trail (newest 50), readable by whoever may read the VM. */
export const vmEventDtoSchema = z.object({
  id: z.string(),
  createdAt: timestamp,
  userEmail: z.string().nullable().describe("null: the system"),
  action: z.string(),
  result: z.enum(["success", "denied", "error"]),
  details: z.string().nullable().describe("JSON with context (never secrets)"),
});
export type VmEventDto = z.output<typeof vmEventDtoSchema>;
