import "server-only";
// Audit rows that anyone can cause without signing in (a wrong join token on the agent register
// endpoint) must not grow the log without bound. Such an attempt is recorded at most once per action,
// result, client address and minute: the first attempt writes the row, later ones count into it.
// The client address is the connection's (ADR 024), but an attacker may have many, so past
// `maxAddresses` addresses in one minute the rest share a single row. The bound lives in the database (one row
// id per address and minute), so it holds across controllers too.
import { createHash } from "node:crypto";
import { db, isUniqueViolation } from "./db";
import { logError } from "./log";
import { auditRow, type AuditInput } from "./audit";

export const BOUNDED_AUDIT_WINDOW_MS = 60_000;
export const BOUNDED_AUDIT_MAX_ADDRESSES = 20;
const MAX_DETAILS = 4000;
/** Ids of these rows: `ab_<minute>_<action hash>_<address hash | others>`; a range of them is one minute of one action. */
const OTHERS = "others";

const hash = (text: string, length: number) => createHash("sha256").update(text).digest("hex").slice(0, length);

/** Same-process calls for one row queue here instead of racing each other in the database. */
const queues = new Map<string, Promise<void>>();

/**
 * Records `input` (an attempt by an unauthenticated caller) unless a row for the same action, result
 * and client address was written in this minute: then that row's `details.attempts` goes up by one
 * and the rest of its details become this attempt's (`lastAt` says when). Never throws.
 */
export async function recordBoundedAudit(
  input: AuditInput,
  opts: { windowMs?: number; maxAddresses?: number } = {},
): Promise<void> {
  const windowMs = opts.windowMs ?? BOUNDED_AUDIT_WINDOW_MS;
  const maxAddresses = opts.maxAddresses ?? BOUNDED_AUDIT_MAX_ADDRESSES;
  const prefix = `ab_${Math.floor(Date.now() / windowMs).toString(36)}_${hash(`${input.action}\n${input.result}`, 8)}_`;
  const id = prefix + hash(input.clientIp ?? "", 16);
  const previous = queues.get(id) ?? Promise.resolve();
  const run = previous.then(() => write(input, prefix, id, maxAddresses));
  const settled = run.catch((error) => logError("audit write failed", error, { action: input.action }));
  queues.set(id, settled);
  await settled;
  if (queues.get(id) === settled) queues.delete(id);
}

async function write(input: AuditInput, prefix: string, id: string, maxAddresses: number): Promise<void> {
  let rowId = id;
  let clientIp = input.clientIp ?? null;
  let extra: Record<string, unknown> = {};
  if (!(await db().auditEvent.findUnique({ where: { id }, select: { id: true } }))) {
    // A new address this minute: past the limit, it is counted in the shared row instead.
    const addresses = await db().auditEvent.count({
      where: { id: { gte: prefix, lt: `${prefix}~`, not: prefix + OTHERS } },
    });
    if (addresses >= maxAddresses) {
      rowId = prefix + OTHERS;
      clientIp = null;
      extra = { note: `attempts from more than ${maxAddresses} addresses in one minute, counted together` };
    }
  }
  // Compare-and-set on the details text: two controllers counting into the same row never lose a count.
  for (let attempt = 0; attempt < 50; attempt++) {
    const row = await db().auditEvent.findUnique({ where: { id: rowId }, select: { details: true } });
    const attempts = (row ? attemptsIn(row.details) : 0) + 1;
    const details = detailsText({ attempts, lastAt: new Date().toISOString(), ...extra, ...input.details });
    if (!row) {
      try {
        await db().auditEvent.create({
          data: { ...auditRow({ ...input, clientIp }), id: rowId, details },
        });
        return;
      } catch (error) {
        if (!isUniqueViolation(error)) throw error;
        continue; // another controller wrote the row first: count into it
      }
    }
    const changed = await db().auditEvent.updateMany({
      where: { id: rowId, details: row.details },
      data: { details },
    });
    if (changed.count === 1) return;
  }
  throw new Error(`the audit row ${rowId} kept changing under concurrent updates; this attempt was not counted`);
}

/** `attempts` is written first, so it survives the length limit. */
function detailsText(details: Record<string, unknown>): string {
  return JSON.stringify(details).slice(0, MAX_DETAILS);
}

function attemptsIn(details: string | null): number {
  const n = Number(/^\{"attempts":(\d+)/.exec(details ?? "")?.[1]);
  return Number.isSafeInteger(n) && n > 0 ? n : 1;
}
