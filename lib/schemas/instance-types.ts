// Instance types (ADR 050): admin-defined VM sizes, optionally limited to one arch. Shared by the admin
// page, its server actions, /api/v1/instance-types and VM create (`instanceType` instead of sizes).
import { z } from "zod";
import { archSchema } from "../arch";
import { timestamp } from "./dto";

/** The size limits a VM has (lib/schemas/vms.ts uses the same ones, so a type always makes a valid VM). */
export const vcpusSchema = z.coerce
  .number({ error: "vCPUs must be a whole number" })
  .int("vCPUs must be a whole number")
  .min(1, "at least 1 vCPU")
  .max(256, "at most 256 vCPUs");
export const memoryMbSchema = z.coerce
  .number({ error: "memory must be a whole number of MiB" })
  .int("memory must be a whole number of MiB")
  .min(64, "at least 64 MiB of memory")
  .max(1024 * 1024, "at most 1 TiB of memory");
export const diskGbSchema = z.coerce
  .number({ error: "disk must be a whole number of GiB" })
  .int("disk must be a whole number of GiB")
  .min(1, "at least 1 GiB of disk")
  .max(65536, "at most 64 TiB of disk");

/** A DNS-ish label like OpenStack flavors: m1.small, c2-large, gpu.arm.xl. */
export const instanceTypeNameSchema = z
  .string({ error: "name is required" })
  .trim()
  .min(1, "name is required")
  .max(63, "name is at most 63 characters")
  .regex(
    /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/,
    "name uses lower-case letters, digits, '.' and '-', and starts and ends with a letter or digit (e.g. m1.small)",
  );

/** The arch a type is limited to: absent, null, "" or "any" = every arch; aliases (arm64) are accepted. */
const typeArchSchema = z.preprocess((v) => (v === "" || v === "any" ? null : v), archSchema.nullable().optional());

const descriptionSchema = z
  .string()
  .trim()
  .max(500, "description is at most 500 characters")
  .nullable()
  .optional()
  .transform((v) => (v === undefined ? undefined : v ? v : null));

export const createInstanceTypeSchema = z
  .object({
    name: instanceTypeNameSchema,
    vcpus: vcpusSchema,
    memoryMb: memoryMbSchema,
    diskGb: diskGbSchema,
    arch: typeArchSchema.transform((v) => v ?? null),
    description: descriptionSchema.transform((v) => v ?? null),
  })
  .strict();
export type CreateInstanceTypeInput = z.output<typeof createInstanceTypeSchema>;

export const updateInstanceTypeSchema = z
  .object({
    name: instanceTypeNameSchema.optional(),
    vcpus: vcpusSchema.optional(),
    memoryMb: memoryMbSchema.optional(),
    diskGb: diskGbSchema.optional(),
    arch: typeArchSchema,
    description: descriptionSchema,
  })
  .strict()
  .refine((v) => Object.values(v).some((x) => x !== undefined), {
    message: "give at least one of: name, vcpus, memoryMb, diskGb, arch, description",
  });
export type UpdateInstanceTypeInput = z.output<typeof updateInstanceTypeSchema>;

/** GET /api/v1/instance-types?arch=…: only the types a VM of that arch may use (arch null or equal). */
export const instanceTypeListQuery = z.object({ arch: archSchema.optional() });

export const instanceTypeIdSchema = z.string().trim().min(1).max(64);
/** Server-action inputs (the id travels in the payload). */
export const instanceTypeRefSchema = z.object({ id: instanceTypeIdSchema });
/** The edit form sends every field, like a create, with the id. */
export const updateInstanceTypeActionSchema = z.object({ id: instanceTypeIdSchema, ...createInstanceTypeSchema.shape });

export const instanceTypeDtoSchema = z.object({
  id: z.string(),
  name: z.string(),
  vcpus: z.number().int(),
  memoryMb: z.number().int(),
  diskGb: z.number().int(),
  arch: z.enum(["x86_64", "aarch64"]).nullable().describe("null: usable for every arch"),
  description: z.string().nullable(),
  vmCount: z.number().int().describe("VMs created from this type"),
  createdAt: timestamp,
  updatedAt: timestamp,
});
export type InstanceTypeDto = z.output<typeof instanceTypeDtoSchema>;
export const instanceTypeListDtoSchema = z.object({ items: z.array(instanceTypeDtoSchema), total: z.number().int() });
