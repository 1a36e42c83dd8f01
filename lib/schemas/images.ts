// zod schemas for the image service: upload form fields, controller-path import, PATCH, families.
// Shared by the upload panel, the route handlers and lib/server/image-*.ts.
import { z } from "zod";
import { ARCHES, archSchema } from "../arch";
import { IMAGE_FORMATS, IMAGE_STATUSES } from "./entities";

const MiB = 1024 * 1024;
/** Upload size limits: constants, not configuration (ADR 006). The kernel limit matches image-inspect's. */
export const MAX_IMAGE_BYTES = 64 * 1024 * MiB;
export const MAX_KERNEL_BYTES = 256 * MiB;
export const MAX_INITRD_BYTES = 2 * 1024 * MiB;

/** private: owner and admins; project: members of the image's project; public: everyone signed in. */
export const IMAGE_VISIBILITIES = ["private", "project", "public"] as const;
export type ImageVisibility = (typeof IMAGE_VISIBILITIES)[number];
export const DISK_FORMATS = ["qcow2", "raw", "iso"] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];

/** Multipart part names that carry files; everything else is a text field. */
export const UPLOAD_FILE_PARTS = ["file", "kernel", "initrd"] as const;
export type UploadFilePart = (typeof UPLOAD_FILE_PARTS)[number];
export const UPLOAD_TEXT_FIELDS = ["name", "format", "arch", "family", "visibility", "projectId", "cmdline"] as const;

export const imageNameSchema = z
  .string()
  .trim()
  .min(1, "name is required")
  .max(100, "name is at most 100 characters")
  .regex(/^[^\u0000-\u001f\u007f]+$/, "name may not contain control characters");

/** A family is a short slug ("debian-12") that groups the per-arch builds of one image. */
export const familySchema = z
  .string()
  .trim()
  .toLowerCase()
  .regex(
    /^[a-z0-9][a-z0-9._-]{0,62}$/,
    "family is 1–63 characters: lower-case letters, digits, '.', '_' or '-', starting with a letter or digit",
  );

/** Kernel command line: printable ASCII only (it ends up in QEMU's -append argv element). */
export const cmdlineSchema = z
  .string()
  .trim()
  .max(1024, "cmdline is at most 1024 characters")
  .regex(/^[\x20-\x7e]*$/, "cmdline may contain printable ASCII only");

// Form fields arrive as strings; "" (and "auto" for arch) mean "not given".
const blankToUndefined = (v: unknown) => (typeof v === "string" && v.trim() === "" ? undefined : v);
const optionalArch = z.preprocess(
  (v) => (typeof v === "string" && ["", "auto", "detect"].includes(v.trim().toLowerCase()) ? undefined : v),
  archSchema.optional(),
);

export const uploadFieldsSchema = z
  .object({
    name: imageNameSchema,
    format: z.enum(IMAGE_FORMATS, { error: `format must be one of: ${IMAGE_FORMATS.join(", ")}` }),
    arch: optionalArch,
    family: z.preprocess(blankToUndefined, familySchema.optional()),
    visibility: z.preprocess(
      blankToUndefined,
      z.enum(IMAGE_VISIBILITIES, { error: "visibility must be private, project or public" }).default("project"),
    ),
    /** the image's project; default: the uploader's first project (ADR 027) */
    projectId: z.preprocess(blankToUndefined, z.string().trim().min(1).max(100).optional()),
    cmdline: z.preprocess(blankToUndefined, cmdlineSchema.optional()),
  })
  .strict()
  .refine((v) => v.format === "kernel" || v.cmdline === undefined, {
    message: "cmdline applies to kernel images only",
    path: ["cmdline"],
  });
export type UploadFields = z.output<typeof uploadFieldsSchema>;

const absolutePath = z
  .string()
  .min(2)
  .max(4096)
  .refine((p) => p.startsWith("/") && !p.includes("\0"), "path must be an absolute path on the controller")
  .refine((p) => !p.split("/").includes(".."), "path may not contain '..'");

/** Admin import of a file already on the controller; kernel images name the initrd separately. */
export const importImageSchema = z
  .object({
    path: absolutePath,
    initrdPath: absolutePath.optional(),
    name: imageNameSchema,
    format: z.enum(IMAGE_FORMATS, { error: `format must be one of: ${IMAGE_FORMATS.join(", ")}` }),
    arch: optionalArch,
    family: z.preprocess(blankToUndefined, familySchema.optional()),
    visibility: z.enum(IMAGE_VISIBILITIES).default("project"),
    /** the project the image belongs to (project visibility); default: the importer's first project */
    projectId: z.string().trim().min(1).max(100).optional(),
    cmdline: cmdlineSchema.optional(),
  })
  .strict()
  .refine((v) => v.format === "kernel" || (v.initrdPath === undefined && v.cmdline === undefined), {
    message: "initrdPath and cmdline apply to kernel images only",
    path: ["format"],
  });
export type ImportImageInput = z.output<typeof importImageSchema>;

export const imagePatchSchema = z
  .object({
    name: imageNameSchema.optional(),
    family: z.preprocess(blankToUndefined, familySchema.nullable().optional()).optional(),
    visibility: z.enum(IMAGE_VISIBILITIES).optional(),
  })
  .strict()
  .refine((v) => Object.values(v).some((x) => x !== undefined), "send at least one of name, family, visibility");
export type ImagePatch = z.output<typeof imagePatchSchema>;

export const familyParamSchema = z.object({ family: familySchema });

/** GET /api/v1/image-families(/:family): a family and its build per architecture (canonical arch order). */
export const imageFamilyDtoSchema = z.object({
  family: z.string(),
  builds: z.array(
    z.object({ arch: z.enum(ARCHES), imageId: z.string(), name: z.string(), status: z.enum(IMAGE_STATUSES) }),
  ),
});
export type ImageFamilyDto = z.output<typeof imageFamilyDtoSchema>;
export type FamilyBuild = ImageFamilyDto["builds"][number];
