import "server-only";
import type { Caller } from "../platform";
// User administration. Password hashing and sessions belong to better-auth; role and ban state
// are columns its admin plugin defines. Every change is audited by the caller's action wrapper.
import { z } from "zod";
import { AppError } from "../../errors";
import type { Role } from "../../permissions";
import { createUserSchema, type userDtoSchema } from "../../schemas/users";
import { auth } from "./auth";
import { db } from "../platform";
import { recordAudit } from "../platform";
import { addUserToProjects } from "../projects";
import { serverHooks } from "../../server-hooks";

/** Open consoles of this controller re-check now rather than at their next period (ADR 029). */
const consolesChanged = () => serverHooks().consolesChanged?.();

export async function listUsers() {
  const rows = await db().user.findMany({ orderBy: { createdAt: "asc" }, take: 1000 });
  return rows.map(
    (u) =>
      ({
        id: u.id,
        email: u.email,
        name: u.name,
        role: u.role,
        disabled: !!u.banned,
        createdAt: u.createdAt,
      }) satisfies z.input<typeof userDtoSchema>,
  );
}

async function hashPassword(password: string): Promise<string> {
  const ctx = await auth().$context;
  return ctx.password.hash(password);
}

/** New users join the default project unless `projectIds` says otherwise ([] = no project yet). */
export async function createUser(
  input: z.output<typeof createUserSchema>,
  who?: Caller,
  opts: { projectIds?: readonly string[] } = {},
) {
  const exists = await db().user.findUnique({ where: { email: input.email } });
  if (exists) throw new AppError({ code: "conflict", message: `A user with email ${input.email} already exists.` });
  // Called without request headers = a trusted server-side call; our guard already authorised it.
  const res = await auth().api.createUser({
    body: { email: input.email, name: input.name, password: input.password, role: input.role },
  });
  await addUserToProjects(res.user.id, opts.projectIds);
  if (who)
    await recordAudit({
      actor: who.actor,
      action: "user.create",
      result: "success",
      targetType: "user",
      targetId: res.user.id,
      clientIp: who.clientIp,
      details: { email: input.email, role: input.role },
    });
  return { id: res.user.id };
}

async function loadUser(id: string) {
  const user = await db().user.findUnique({ where: { id } });
  if (!user) throw new AppError({ code: "not_found", message: "That user does not exist." });
  return user;
}

/** Refuses changes that would leave the console without an active admin. */
async function assertNotLastAdmin(userId: string) {
  const admins = await db().user.count({
    where: { role: "admin", OR: [{ banned: false }, { banned: null }], NOT: { id: userId } },
  });
  if (admins === 0)
    throw new AppError({ code: "conflict", message: "This is the last active admin; make another admin first." });
}

export async function setRole(id: string, role: Role, who: Caller) {
  const user = await loadUser(id);
  if (user.role === "admin" && role !== "admin") await assertNotLastAdmin(id);
  await db().user.update({ where: { id }, data: { role } });
  consolesChanged();
  await recordAudit({
    actor: who.actor,
    action: "user.set-role",
    result: "success",
    targetType: "user",
    targetId: id,
    clientIp: who.clientIp,
    details: { from: user.role, to: role },
  });
}

export async function setDisabled(id: string, disabled: boolean, who: Caller) {
  const user = await loadUser(id);
  if (disabled && id === who.actor.id)
    throw new AppError({ code: "conflict", message: "You cannot disable your own account." });
  if (disabled && user.role === "admin") await assertNotLastAdmin(id);
  // Disabling ends every session and every API token at once, not at their expiry.
  await db().$transaction([
    db().user.update({
      where: { id },
      data: { banned: disabled, banReason: disabled ? "disabled by an admin" : null },
    }),
    ...(disabled ? [db().session.deleteMany({ where: { userId: id } })] : []),
  ]);
  if (disabled) consolesChanged();
  await recordAudit({
    actor: who.actor,
    action: disabled ? "user.disable" : "user.enable",
    result: "success",
    targetType: "user",
    targetId: id,
    clientIp: who.clientIp,
  });
}

export async function resetPassword(id: string, password: string, who: Caller) {
  await loadUser(id);
  const hash = await hashPassword(password);
  const updated = await db().account.updateMany({
    where: { userId: id, providerId: "credential" },
    data: { password: hash },
  });
  if (updated.count === 0) {
    await db().account.create({
      data: { id: crypto.randomUUID(), accountId: id, providerId: "credential", userId: id, password: hash },
    });
  }
  await db().session.deleteMany({ where: { userId: id } });
  consolesChanged();
  await recordAudit({
    actor: who.actor,
    action: "user.reset-password",
    result: "success",
    targetType: "user",
    targetId: id,
    clientIp: who.clientIp,
  });
}
