import { z } from "zod";
import { ROLES } from "../permissions";
import { timestamp } from "./dto";

export const roleSchema = z.enum(ROLES, { error: `role must be one of: ${ROLES.join(", ")}` });
export const passwordSchema = z
  .string()
  .min(8, "password must be at least 8 characters")
  .max(256, "password is at most 256 characters");

export const createUserSchema = z.object({
  email: z.string().trim().toLowerCase().email("enter a valid email address").max(200),
  name: z.string().trim().min(1, "name is required").max(100, "name is at most 100 characters"),
  role: roleSchema,
  password: passwordSchema,
});

export const userIdSchema = z.object({ id: z.string().min(1).max(64) });
export const setRoleSchema = userIdSchema.extend({ role: roleSchema });
export const resetPasswordSchema = userIdSchema.extend({ password: passwordSchema });

export const createTokenSchema = z.object({
  name: z.string().trim().min(1, "name is required").max(100),
  expiresInDays: z.coerce.number().int().min(0).max(3650).default(0),
});
export const tokenIdSchema = z.object({ id: z.string().min(1).max(64) });

export const updateUserSchema = z
  .object({ role: roleSchema.optional(), disabled: z.boolean().optional(), password: passwordSchema.optional() })
  .strict()
  .refine(
    (v) => v.role !== undefined || v.disabled !== undefined || v.password !== undefined,
    "give at least one of: role, disabled, password",
  );

/** GET /api/v1/users (user:manage): every user, oldest first, with `total`. */
export const userDtoSchema = z.object({
  id: z.string(),
  email: z.string(),
  name: z.string(),
  role: z.string().describe("admin | operator | viewer"),
  disabled: z.boolean(),
  createdAt: timestamp,
});
export type UserDto = z.output<typeof userDtoSchema>;
export const userListDtoSchema = z.object({ items: z.array(userDtoSchema), total: z.number().int() });
