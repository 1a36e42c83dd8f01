import "server-only";
// Console tickets in the database (ADR 013): a row per issued ticket (its sha256, never the ticket),
// spent by one conditional UPDATE ... WHERE usedAt IS NULL AND expiresAt > now, so a ticket opens
// one console once however many controllers share the database. The custom server's console proxy
// (server/console-proxy.ts) has no Prisma client of its own: it calls spendConsoleTicket through
// the app hooks (lib/server-hooks.ts) that lib/server/startup registers.
import { ticketHash, type ConsoleTicketClaims, type SpendResult } from "../../console-ticket";
import type { ConsoleKind } from "../../schemas/console";
import { db } from "../platform";
import { logError } from "../platform";

/** Spent and expired rows are kept this long after expiry (for "already used" vs "unknown" in logs), then purged. */
export const PURGE_AFTER_MS = 10 * 60_000;
const PURGE_EVERY_MS = 60_000;

export async function recordConsoleTicket(
  ticket: string,
  t: { userId: string; vmId: string; kind: ConsoleKind; write: boolean; expiresAt: Date },
): Promise<void> {
  await db().consoleTicket.create({
    data: {
      hash: ticketHash(ticket),
      userId: t.userId,
      vmId: t.vmId,
      kind: t.kind,
      write: t.write,
      expiresAt: t.expiresAt,
    },
  });
  maybePurge();
}

/**
 * Spends a ticket whose signature the caller has checked. Exactly one of any number of concurrent
 * calls (in any process) succeeds; the row must also match the signed claims (VM, kind, user, write).
 */
export async function spendConsoleTicket(
  ticket: string,
  expect: Pick<ConsoleTicketClaims, "vmId" | "kind" | "userId" | "write">,
  now = new Date(),
): Promise<SpendResult> {
  const hash = ticketHash(ticket);
  const { count } = await db().consoleTicket.updateMany({
    where: {
      hash,
      usedAt: null,
      expiresAt: { gt: now },
      vmId: expect.vmId,
      kind: expect.kind,
      userId: expect.userId,
      write: expect.write,
    },
    data: { usedAt: now },
  });
  if (count === 1) return { ok: true };
  // Lost: say why (for the log and the 401/403), without changing anything.
  const row = await db().consoleTicket.findUnique({
    where: { hash },
    select: { usedAt: true, expiresAt: true, vmId: true, kind: true },
  });
  if (!row) return { ok: false, status: 401, reason: "unknown ticket" };
  if (row.vmId !== expect.vmId || row.kind !== expect.kind)
    return { ok: false, status: 403, reason: "ticket is for another console" };
  if (row.usedAt) return { ok: false, status: 401, reason: "ticket already used" };
  if (row.expiresAt.getTime() <= now.getTime()) return { ok: false, status: 401, reason: "ticket expired" };
  return { ok: false, status: 401, reason: "ticket does not match its record" };
}

/** Deletes tickets that expired more than PURGE_AFTER_MS ago; returns how many. */
export async function purgeConsoleTickets(now = new Date()): Promise<number> {
  const { count } = await db().consoleTicket.deleteMany({
    where: { expiresAt: { lt: new Date(now.getTime() - PURGE_AFTER_MS) } },
  });
  return count;
}

let lastPurge = 0;
function maybePurge(): void {
  const now = Date.now();
  if (now - lastPurge < PURGE_EVERY_MS) return;
  lastPurge = now;
  purgeConsoleTickets().catch((e: unknown) => logError("console ticket purge failed", e));
}
