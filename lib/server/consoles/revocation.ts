import "server-only";
// Open consoles end when their authorisation does (ADR 029). The console proxy (server/console-proxy.ts)
// calls revokedConsoles every ~2 s with all consoles open in its process; the answer comes from the
// database, so a user disabled, demoted or removed from a project on any controller loses the
// consoles open on every controller. Three queries in one transaction per tick, however many consoles are open.
import { getSessionCookie } from "better-auth/cookies";
import { can, type Role } from "../../permissions";
import type { OpenConsoleGrant } from "../../server-hooks";
import { db } from "../platform";
import { projectVisibleTo } from "../projects";

/** The prefix of every close reason the proxy sends (and the browser shows). */
export const REVOKED = "access revoked";

/** May this role type into a console (serial input, VNC keyboard and mouse)? Viewers only watch. */
export function mayWriteConsole(role: string | null | undefined): boolean {
  return can(role, "console:write");
}

type UserState = { role: string; banned: boolean | null; banExpires: Date | null; memberOf: ReadonlySet<string> };
type SessionState = { userId: string; expiresAt: Date } | undefined;

/**
 * Why one open console is no longer allowed, or null while it is. The same rule as issuing its
 * ticket: the VM visible to the user (vms/access.ts), write only for roles with console:write.
 */
export function consoleRefusal(
  grant: Pick<OpenConsoleGrant, "write" | "userId">,
  user: UserState | undefined,
  vm: { projectId: string | null } | undefined,
  session: { token: string | null; row: SessionState },
  now: Date,
): string | null {
  if (!user) return `${REVOKED}: the account no longer exists`;
  // better-auth's rule: a ban with an expiry in the past no longer counts.
  if (user.banned && (!user.banExpires || user.banExpires > now)) return `${REVOKED}: your account was disabled`;
  if (session.token !== null && (!session.row || session.row.userId !== grant.userId || session.row.expiresAt <= now))
    return `${REVOKED}: your session ended (signed out or revoked)`;
  if (!vm) return `${REVOKED}: the VM was deleted`;
  const actor = { role: user.role as Role };
  if (!can(actor.role, "read") || !projectVisibleTo(actor, user.memberOf, vm.projectId))
    return `${REVOKED}: you are no longer a member of this VM's project`;
  if (grant.write && !mayWriteConsole(actor.role))
    return `${REVOKED}: your role no longer allows typing in the console; reconnect to watch read-only`;
  return null;
}

/** The session token in a browser's Cookie header (better-auth's cookie: `<token>.<signature>`), or null. */
export function sessionTokenOf(cookie: string | null): string | null {
  if (!cookie) return null;
  const value = getSessionCookie(new Headers({ cookie }));
  if (!value) return null;
  let decoded = value;
  try {
    decoded = decodeURIComponent(value);
  } catch {
    /* keep it as sent */
  }
  return decoded.split(".")[0] || null;
}

/** For every open console no longer allowed: its key → the close reason. */
export async function revokedConsoles(
  consoles: readonly OpenConsoleGrant[],
  now = new Date(),
): Promise<Record<string, string>> {
  if (consoles.length === 0) return {};
  const tokens = new Map(consoles.map((c) => [c.key, sessionTokenOf(c.cookie)]));
  const tokenList = [...new Set([...tokens.values()].filter((t): t is string => t !== null))];
  // One snapshot: disabling a user bans them and deletes their sessions in one transaction, and a
  // read of the users before it and of the sessions after it would give the wrong reason.
  const [users, vms, sessions] = await db().$transaction(
    [
      db().user.findMany({
        where: { id: { in: [...new Set(consoles.map((c) => c.userId))] } },
        select: {
          id: true,
          role: true,
          banned: true,
          banExpires: true,
          projectMemberships: { select: { projectId: true } },
        },
      }),
      db().vm.findMany({
        where: { id: { in: [...new Set(consoles.map((c) => c.vmId))] } },
        select: { id: true, projectId: true },
      }),
      db().session.findMany({
        where: { token: { in: tokenList } },
        select: { token: true, userId: true, expiresAt: true },
      }),
    ],
    // the one level both providers accept; read-only, so on PostgreSQL a plain snapshot in practice
    { isolationLevel: "Serializable" },
  );
  const userById = new Map(
    users.map((u) => [u.id, { ...u, memberOf: new Set(u.projectMemberships.map((m) => m.projectId)) }]),
  );
  const vmById = new Map(vms.map((v) => [v.id, v]));
  const sessionByToken = new Map(sessions.map((s) => [s.token, s]));
  const revoked: Record<string, string> = {};
  for (const c of consoles) {
    const token = tokens.get(c.key) ?? null;
    const why = consoleRefusal(
      c,
      userById.get(c.userId),
      vmById.get(c.vmId),
      { token, row: token === null ? undefined : sessionByToken.get(token) },
      now,
    );
    if (why) revoked[c.key] = why;
  }
  return revoked;
}
