import "server-only";
// The one guard. Every page, server action and route handler resolves the actor here and asks
// requirePermission before doing anything: actions are reachable by direct POST whatever a page shows.
import { headers } from "next/headers";
import { createHash } from "node:crypto";
import { AppError } from "../../errors";
import { can, isRole, type Permission } from "../../permissions";
import { auth } from "./auth";
import { db, recordAudit, type Actor } from "../platform";

export type { Actor, Caller } from "../platform";

export const API_TOKEN_PREFIX = "pa_";

export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/** The client address the custom server set from the socket (ADR 024); never X-Forwarded-For itself. */
export { clientIpFrom } from "../../client-address";

async function actorFromToken(token: string): Promise<Actor | null> {
  if (!token.startsWith(API_TOKEN_PREFIX) || token.length > 200) return null;
  const row = await db().apiToken.findUnique({ where: { tokenHash: hashToken(token) }, include: { user: true } });
  if (!row || row.revokedAt || (row.expiresAt && row.expiresAt < new Date())) return null;
  if (row.user.banned || !isRole(row.user.role)) return null;
  // Touch lastUsedAt at most once a minute to keep reads cheap.
  if (!row.lastUsedAt || Date.now() - row.lastUsedAt.getTime() > 60_000) {
    await db().apiToken.update({ where: { id: row.id }, data: { lastUsedAt: new Date() } });
  }
  return {
    id: row.user.id,
    email: row.user.email,
    name: row.user.name,
    role: row.user.role,
    via: "token",
    tokenId: row.id,
  };
}

/**
 * The `Authorization: Bearer …` credential, or null. A request that carries one is authenticated by
 * it alone (its cookies are ignored), which is why cross-site checks exempt it (lib/server/web/cross-site.ts).
 */
export function bearerToken(h: Headers): string | null {
  const authz = h.get("authorization");
  return authz?.toLowerCase().startsWith("bearer ") ? authz.slice(7).trim() : null;
}

/** The signed-in user (session cookie or personal API token), or null. */
export async function currentActor(h?: Headers): Promise<Actor | null> {
  const hdrs = h ?? (await headers());
  const token = bearerToken(hdrs);
  if (token !== null) return actorFromToken(token);
  const session = await auth().api.getSession({ headers: hdrs });
  if (!session) return null;
  const user = session.user as typeof session.user & { role?: string | null; banned?: boolean | null };
  if (user.banned || !isRole(user.role)) return null;
  return { id: user.id, email: user.email, name: user.name, role: user.role, via: "session" };
}

export async function requireUser(h?: Headers): Promise<Actor> {
  const actor = await currentActor(h);
  if (!actor) throw new AppError({ code: "unauthenticated", message: "Sign in to continue." });
  return actor;
}

/** Throws `forbidden` (and records the denied attempt) unless the actor's role grants the permission. */
export async function requirePermission(
  actor: Actor,
  permission: Permission,
  attempt: { action: string; targetType?: string; targetId?: string | null; clientIp?: string | null },
): Promise<void> {
  if (can(actor.role, permission)) return;
  await recordAudit({
    actor,
    action: attempt.action,
    result: "denied",
    targetType: attempt.targetType,
    targetId: attempt.targetId,
    clientIp: attempt.clientIp,
    details: { permission, role: actor.role },
  });
  throw new AppError({
    code: "forbidden",
    message: `Your role (${actor.role}) may not do this: it needs the "${permission}" permission.`,
  });
}
