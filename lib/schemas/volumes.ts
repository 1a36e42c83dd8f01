// Data volumes, CD media and resize (issue 13): request and response shapes shared by the JSON API,
// the server actions, the console and the OpenAPI document.
import { z } from "zod";
import { ARCHES } from "../arch";
import { timestamp } from "./dto";

const id = z.string().trim().min(1).max(64);
const sizeGb = z.coerce
  .number()
  .int("size must be a whole number of GiB")
  .min(1, "a volume is at least 1 GiB")
  .max(65536, "a volume is at most 64 TiB");

export const volumeNameSchema = z
  .string()
  .trim()
  .min(1, "name is required")
  .max(63, "name is at most 63 characters")
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]*$/,
    "name may contain letters, digits, '.', '_' and '-', and must start with a letter or digit",
  );

/** Empty form fields (the console's selects) mean "not given". */
const optionalId = z.preprocess((v) => (v === "" || v === null ? undefined : v), id.optional());

/**
 * POST /api/v1/volumes. With vmId the volume is made on that VM's host and attached to it; with
 * hostId on that host; with neither it is "unplaced" and lands on the host of the first VM it is
 * attached to. projectId: with vmId always the VM's project; else the caller's choice (a member).
 */
export const createVolumeSchema = z
  .object({
    name: volumeNameSchema,
    sizeGb,
    hostId: optionalId,
    vmId: optionalId,
    /** a qcow2 or raw image whose contents the volume starts with (copied, never a backing file) */
    imageId: optionalId,
    projectId: optionalId,
  })
  .refine((v) => !(v.hostId && v.vmId), {
    message: "give hostId or vmId, not both (with vmId the volume goes to the VM's host)",
    path: ["hostId"],
  });
export type CreateVolumeInput = z.output<typeof createVolumeSchema>;
export type CreateVolumeRequest = z.input<typeof createVolumeSchema>;

/** PATCH /api/v1/volumes/:id — volumes only grow. */
export const growVolumeSchema = z.object({ sizeGb });
/** POST /api/v1/vms/:id/volumes */
export const attachVolumeSchema = z.object({ volumeId: id });
/** POST /api/v1/vms/:id/media */
export const insertMediaSchema = z.object({ imageId: id });

/**
 * POST /api/v1/vms/:id/resize. vCPUs and memory change only while the VM is stopped; the disk only
 * grows, online on a running VM. At least one field.
 */
export const resizeVmSchema = z
  .object({
    vcpus: z.coerce
      .number()
      .int("vCPUs must be a whole number")
      .min(1, "at least 1 vCPU")
      .max(256, "at most 256 vCPUs")
      .optional(),
    memoryMb: z.coerce
      .number()
      .int()
      .min(64, "at least 64 MiB of memory")
      .max(1024 * 1024, "at most 1 TiB of memory")
      .optional(),
    diskGb: z.coerce.number().int().min(1, "at least 1 GiB of disk").max(65536, "at most 64 TiB of disk").optional(),
  })
  .refine((v) => v.vcpus !== undefined || v.memoryMb !== undefined || v.diskGb !== undefined, {
    message: "give at least one of vcpus, memoryMb, diskGb",
  });
export type ResizeVmInput = z.output<typeof resizeVmSchema>;

export const volumeListQuery = z.object({
  hostId: id.optional(),
  vmId: id.optional(),
  projectId: id.optional(),
});

export const VOLUME_STATUSES = [
  "creating",
  "available",
  "attaching",
  "in-use",
  "detaching",
  "resizing",
  "deleting",
  "error",
] as const;
export type VolumeStatus = (typeof VOLUME_STATUSES)[number];

const ref = z.object({ id: z.string(), name: z.string() });

export const volumeDtoSchema = z.object({
  id: z.string(),
  name: z.string(),
  sizeGb: z.number().int(),
  status: z.enum(VOLUME_STATUSES),
  lastError: z.string().nullable(),
  host: z
    .object({ id: z.string(), name: z.string(), arch: z.enum(ARCHES) })
    .nullable()
    .describe("the host holding the file; null until the first attach places an unplaced volume"),
  vm: ref.nullable().describe("the VM it is attached to (null: available)"),
  image: ref.nullable().describe("the image it was made from (null: blank)"),
  project: ref.nullable(),
  ownerId: z.string().nullable(),
  createdAt: timestamp,
  updatedAt: timestamp,
});
export type VolumeDto = z.output<typeof volumeDtoSchema>;

/** GET|POST|DELETE /api/v1/vms/:id/media: the ISO in the VM's CD drive (null: empty). */
export const vmMediaDtoSchema = z.object({
  vmId: z.string(),
  image: z.object({ id: z.string(), name: z.string(), arch: z.enum(ARCHES) }).nullable(),
});
export type VmMediaDto = z.output<typeof vmMediaDtoSchema>;
