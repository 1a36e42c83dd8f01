// Response shapes of the JSON API, as zod, so the OpenAPI document is generated from the same
// source of truth as request validation.
import { z } from "zod";
import { ARCHES } from "../arch";
import { HOST_STATUSES, IMAGE_FORMATS, IMAGE_STATUSES, VM_STATUSES } from "./entities";

const arch = z.enum(ARCHES).describe("Canonical CPU architecture");
const ts = z.string().describe("ISO 8601 timestamp");

export const hostDtoSchema = z.object({
  id: z.string(), name: z.string(), arch, status: z.enum(HOST_STATUSES), connectivity: z.enum(["online", "offline"]),
  adminState: z.enum(["enabled", "maintenance", "disabled"]), cpuModel: z.string().nullable(), cpuCount: z.number().int(),
  memoryMb: z.number().int(), diskGb: z.number().int(), cpuAllocationRatio: z.number(), ramAllocationRatio: z.number(),
  capacity: z.object({ vcpuTotal: z.number(), vcpuUsed: z.number(), vcpuFree: z.number(), memoryTotalMb: z.number(), memoryUsedMb: z.number(), memoryFreeMb: z.number(), diskTotalGb: z.number(), diskUsedGb: z.number(), diskFreeGb: z.number() }),
  kvm: z.boolean(), nativeArches: z.array(arch), emulatedArches: z.array(arch), qemuVersion: z.string().nullable(),
  lastHeartbeatAt: ts.nullable(), createdAt: ts,
});

export const imageDtoSchema = z.object({
  id: z.string(), name: z.string(), family: z.string().nullable(), arch, format: z.enum(IMAGE_FORMATS), sizeBytes: z.number(),
  virtualSize: z.number(), sha256: z.string().nullable(), firmware: z.enum(["bios", "uefi"]), status: z.enum(IMAGE_STATUSES),
  visibility: z.enum(["private", "public"]), createdAt: ts,
});

export const vmDtoSchema = z.object({
  id: z.string(), name: z.string(), arch, vcpus: z.number().int(), memoryMb: z.number().int(), diskGb: z.number().int(),
  status: z.enum(VM_STATUSES), powerState: z.string(), emulated: z.boolean().describe("Runs under TCG emulation on a host of another architecture"),
  lastError: z.string().nullable(), host: z.object({ id: z.string(), name: z.string(), arch }).nullable(),
  image: z.object({ id: z.string(), name: z.string() }).nullable(),
  project: z.object({ id: z.string(), name: z.string() }).nullable().describe("The project whose members may see and operate the VM (null: the default project)"),
  createdAt: ts,
});

export const errorSchema = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

export const listOf = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), total: z.number().int(), page: z.number().int(), pageSize: z.number().int() });
