// Projects scope VMs: admins see every project, operators and viewers only the projects they are
// members of (lib/server/vms/access.ts). Shared by the Projects page, its actions and the JSON API.
import { z } from "zod";
import { displayNameSchema } from "./display-name";
import { timestamp } from "./dto";

/** The project every VM and user from before projects belongs to, and where new users land. */
export const DEFAULT_PROJECT_ID = "default";
export const DEFAULT_PROJECT_NAME = "default";

export const projectIdSchema = z.string().trim().min(1, "project is required").max(64);

/** A display name in any script (issue 17): 研发部, Lab-2. */
export const projectNameSchema = displayNameSchema(63);

const descriptionSchema = z.string().trim().max(500, "description is at most 500 characters");

export const createProjectSchema = z.object({
  name: projectNameSchema,
  // Forms send "" for an empty field: stored as null.
  description: descriptionSchema
    .optional()
    .nullable()
    .transform((v) => (v ? v : null)),
});
export type CreateProjectInput = z.output<typeof createProjectSchema>;

/** A project's image quota in GiB: null = POLYARCH_PROJECT_IMAGE_QUOTA_GB, 0 = unlimited (ADR 027). */
export const imageQuotaGbSchema = z
  .number({ error: "the image quota is a number of GiB" })
  .min(0, "the image quota cannot be negative")
  .max(1_000_000, "the image quota is at most 1000000 GiB")
  .nullable();

export const updateProjectSchema = z
  .object({
    name: projectNameSchema.optional(),
    description: descriptionSchema
      .nullable()
      .optional()
      .transform((v) => (v === undefined ? undefined : v ? v : null)),
    imageQuotaGb: imageQuotaGbSchema.optional(),
  })
  .strict()
  .refine(
    (v) => v.name !== undefined || v.description !== undefined || v.imageQuotaGb !== undefined,
    "give at least one of: name, description, imageQuotaGb",
  );
export type UpdateProjectInput = z.output<typeof updateProjectSchema>;

/** A member is named by user id or by email (exactly one). */
export const projectMemberSchema = z
  .object({
    userId: z.string().trim().min(1).max(64).optional(),
    email: z.string().trim().toLowerCase().email("enter a valid email address").max(200).optional(),
  })
  .strict()
  .refine((v) => (v.userId ? 1 : 0) + (v.email ? 1 : 0) === 1, {
    message: "give either userId or email",
    path: ["userId"],
  });
export type ProjectMemberInput = z.output<typeof projectMemberSchema>;

// Server-action inputs (the id travels in the payload instead of the URL).
export const projectRefSchema = z.object({ id: projectIdSchema });
export const updateProjectActionSchema = z.object({
  id: projectIdSchema,
  name: projectNameSchema,
  description: descriptionSchema
    .optional()
    .nullable()
    .transform((v) => (v ? v : null)),
});
/** The Projects page's quota form: "" = the default quota. */
export const projectQuotaActionSchema = z.object({
  id: projectIdSchema,
  imageQuotaGb: z.preprocess((v) => (v === "" || v == null ? null : Number(v)), imageQuotaGbSchema),
});
export const projectMemberActionSchema = z.object({
  id: projectIdSchema,
  userId: z.string().trim().min(1, "choose a user").max(64),
});

export const projectDtoSchema = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  isDefault: z.boolean(),
  vmCount: z.number().int(),
  memberCount: z.number().int(),
  imageQuotaBytes: z.number().nullable().describe("null: the default (POLYARCH_PROJECT_IMAGE_QUOTA_GB); 0: unlimited"),
  imageBytes: z.number().describe("bytes of the project's images"),
  createdAt: timestamp,
  members: z
    .array(z.object({ id: z.string(), email: z.string(), name: z.string(), role: z.string() }))
    .optional()
    .describe("admins only"),
});
export type ProjectDto = z.output<typeof projectDtoSchema>;

/** GET /api/v1/projects: every project the caller may see (admins: all), not paginated. */
export const projectListDtoSchema = z.object({ items: z.array(projectDtoSchema), total: z.number().int() });
