"use server";
import { defineAction } from "@/lib/server/web";
import { createUserSchema, resetPasswordSchema, setRoleSchema, userIdSchema } from "@/lib/schemas/users";
import { createUser, resetPassword, setDisabled, setRole, unlockSignIn } from "@/lib/server/identity";

export const createUserAction = defineAction(
  {
    schema: createUserSchema,
    permission: "user:manage",
    action: "user.create",
    targetType: "user",
    revalidate: ["/users"],
  },
  (input, who) => createUser(input, who),
);

export const setRoleAction = defineAction(
  {
    schema: setRoleSchema,
    permission: "user:manage",
    action: "user.set-role",
    targetType: "user",
    revalidate: ["/users"],
  },
  (input, who) => setRole(input.id, input.role, who),
);

export const disableUserAction = defineAction(
  {
    schema: userIdSchema,
    permission: "user:manage",
    action: "user.disable",
    targetType: "user",
    revalidate: ["/users"],
  },
  (input, who) => setDisabled(input.id, true, who),
);

export const enableUserAction = defineAction(
  {
    schema: userIdSchema,
    permission: "user:manage",
    action: "user.enable",
    targetType: "user",
    revalidate: ["/users"],
  },
  (input, who) => setDisabled(input.id, false, who),
);

export const resetPasswordAction = defineAction(
  {
    schema: resetPasswordSchema,
    permission: "user:manage",
    action: "user.reset-password",
    targetType: "user",
    revalidate: ["/users"],
  },
  (input, who) => resetPassword(input.id, input.password, who),
);

/** Lifts the per-account sign-in lock (ADR 024) and forgets the failed attempts. */
export const unlockSignInAction = defineAction(
  {
    schema: userIdSchema,
    permission: "user:manage",
    action: "user.unlock-sign-in",
    targetType: "user",
    revalidate: ["/users"],
  },
  (input, who) => unlockSignIn(input.id, who),
);
