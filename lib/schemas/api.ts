// Response shapes of the JSON API for hosts, images, VMs and the audit log, as zod: the server's
// DTO mappers `satisfies` their z.input, clients infer from their z.output, and lib/openapi.ts
// generates the OpenAPI document from them (lib/schemas/dto.ts explains the split).
import { z } from "zod";
import { ARCHES } from "../arch";
import { DISPLAYS } from "../display";
import { powerStateSchema } from "./agent-api";
import { HOST_ADMIN_STATES, HOST_STATUSES, IMAGE_FORMATS, IMAGE_STATUSES, VM_STATUSES } from "./entities";
import { timestamp } from "./dto";

export { errorSchema, listOf } from "./dto";

const arch = z.enum(ARCHES).describe("Canonical CPU architecture");
const ref = z.object({ id: z.string(), name: z.string() });

export const hostCapacitySchema = z
  .object({
    vcpuTotal: z.number().int(),
    vcpuUsed: z.number().int(),
    vcpuFree: z.number().int(),
    memoryTotalMb: z.number().int(),
    memoryUsedMb: z.number().int(),
    memoryFreeMb: z.number().int(),
    diskTotalGb: z.number().int(),
    diskUsedGb: z.number().int(),
    diskFreeGb: z.number().int(),
  })
  .describe("floor(physical × allocation ratio) − reserved; used = what placed VMs claim");

export const hostDtoSchema = z.object({
  id: z.string(),
  name: z.string(),
  arch,
  status: z.enum(HOST_STATUSES).describe("What an operator sees: maintenance/disabled win over connectivity"),
  connectivity: z.enum(["online", "offline"]),
  adminState: z.enum(HOST_ADMIN_STATES),
  cpuModel: z.string().nullable(),
  cpuCount: z.number().int(),
  memoryMb: z.number().int(),
  diskGb: z.number().int(),
  cpuAllocationRatio: z.number(),
  ramAllocationRatio: z.number(),
  reservedCpus: z.number().int(),
  reservedMemoryMb: z.number().int(),
  reservedDiskGb: z.number().int(),
  capacity: hostCapacitySchema,
  kvm: z.boolean(),
  nativeArches: z.array(arch),
  emulatedArches: z.array(arch),
  qemuVersion: z.string().nullable(),
  ovsDatapath: z.string().nullable().describe("netdev (userspace) or system (kernel) bridges"),
  network: z
    .object({ dhcp: z.boolean(), externalNetwork: z.boolean() })
    .nullable()
    .describe("What the agent's networking offers (its facts): DHCP, an external network for routers; null = unknown"),
  agentUrl: z.string().nullable(),
  certFingerprint: z.string().nullable().describe("SHA-256 of the agent's TLS certificate, pinned by the controller"),
  certExpiresAt: timestamp.nullable(),
  revokedAt: timestamp.nullable().describe("set once the host is revoked: its token and certificate are refused"),
  approval: z
    .enum(["pending", "approved"])
    .describe("pending: joined, waiting for an admin's approval; no VM is placed on it (ADR 025)"),
  lastHeartbeatAt: timestamp.nullable(),
  vmCount: z.number().int().optional().describe("VMs placed on the host"),
  createdAt: timestamp,
});
export type HostDto = z.output<typeof hostDtoSchema>;

/** An image's architecture: "unknown" only while an upload is still being detected. */
export const IMAGE_PENDING_ARCH = "unknown";
const imageArch = z
  .enum([...ARCHES, IMAGE_PENDING_ARCH])
  .describe("Canonical CPU architecture; unknown while an upload is still being detected");

export const imageDtoSchema = z.object({
  id: z.string(),
  name: z.string(),
  family: z.string().nullable(),
  arch: imageArch,
  format: z.enum(IMAGE_FORMATS),
  sizeBytes: z.number().int(),
  virtualSize: z.number().int(),
  sha256: z.string().nullable(),
  firmware: z.enum(["bios", "uefi"]),
  status: z.enum(IMAGE_STATUSES),
  visibility: z
    .enum(["private", "project", "public"])
    .describe("private: owner and admins; project: members of projectId; public: everyone signed in"),
  projectId: z.string().nullable().describe("the image's project (null: the default project)"),
  cmdline: z.string().nullable().describe("kernel command line (kernel images)"),
  minDiskGb: z.number().int(),
  minMemoryMb: z.number().int(),
  error: z.string().nullable().describe("why validation failed (status error)"),
  ownerId: z.string().nullable(),
  vmCount: z.number().int().optional().describe("VMs booted from the image"),
  createdAt: timestamp,
});
export type ImageDto = z.output<typeof imageDtoSchema>;

/** POST /api/v1/images (upload) and /api/v1/images/import: the stored image and what detection found. */
export const storedImageDtoSchema = imageDtoSchema.extend({
  detectedArch: arch.nullable().describe("the architecture read from the file, when it could be"),
  warnings: z.array(z.string()),
});
export type StoredImageDto = z.output<typeof storedImageDtoSchema>;

export const VM_DESIRED_STATES = ["running", "stopped", "deleted"] as const;

export const vmDtoSchema = z.object({
  id: z.string(),
  name: z.string().describe("display name, in any script"),
  hostname: z.string().describe("DNS-safe guest hostname (cloud-init); derived from name unless set"),
  arch,
  vcpus: z.number().int(),
  memoryMb: z.number().int(),
  diskGb: z.number().int(),
  status: z.enum(VM_STATUSES),
  powerState: powerStateSchema,
  desiredState: z.enum(VM_DESIRED_STATES).describe("what the operator last asked for"),
  emulated: z.boolean().describe("Runs under TCG emulation on a host of another architecture"),
  allowEmulation: z.boolean(),
  lastError: z.string().nullable(),
  host: z.object({ id: z.string(), name: z.string(), arch }).nullable(),
  image: ref.nullable(),
  display: z.enum(DISPLAYS).describe("graphical display; none = serial console only"),
  project: ref.nullable().describe("The project whose members may see and operate the VM (null: the default project)"),
  instanceType: ref
    .nullable()
    .describe("the instance type the VM was created from (ADR 050); null: a custom size or a deleted type"),
  ownerId: z.string().nullable(),
  machineType: z.string().nullable().describe("QEMU machine type pinned at create (pc-q35-7.2, virt-7.2)"),
  cpuModel: z.string().nullable().describe("guest CPU model pinned at create"),
  generation: z.number().int().describe("bumped on every move to another host"),
  ha: z.boolean().describe("restarted on another host when its host is dead (after fencing)"),
  migratingToHostId: z.string().nullable().describe("the target host while a migration runs"),
  drift: z
    .string()
    .nullable()
    .describe("desired vs actual state when they differ (e.g. desired running, actually shut off)"),
  createdAt: timestamp,
  updatedAt: timestamp,
});
export type VmDto = z.output<typeof vmDtoSchema>;

/** POST /api/v1/vms (202) and the create server action: the placed VM, its host and the task to follow. */
export const createVmResultSchema = z.object({
  vm: vmDtoSchema,
  host: z.object({ id: z.string(), name: z.string() }),
  task: z.object({ id: z.string() }),
});
export type CreateVmResult = z.output<typeof createVmResultSchema>;

export const AUDIT_RESULTS = ["success", "denied", "error"] as const;

export const auditEventDtoSchema = z.object({
  id: z.string(),
  createdAt: timestamp,
  userId: z.string().nullable(),
  userEmail: z.string().nullable(),
  action: z.string().describe("e.g. vm.create, user.update, auth.denied"),
  targetType: z.string().nullable(),
  targetId: z.string().nullable(),
  result: z.enum(AUDIT_RESULTS),
  clientIp: z.string().nullable(),
  details: z.string().nullable().describe("JSON with context (never secrets)"),
});
export type AuditEventDto = z.output<typeof auditEventDtoSchema>;
