import "server-only";
// Every mutation and every denied attempt is recorded: who, what, target, result, when, from where.
import { db } from "./db";
import { logError } from "./log";

export type AuditInput = {
  actor: { id?: string; email?: string } | null;
  action: string;
  result: "success" | "denied" | "error";
  targetType?: string;
  targetId?: string | null;
  clientIp?: string | null;
  details?: Record<string, unknown>;
};

/** The AuditEvent columns of an entry (details as capped JSON text); shared with bounded audit rows. */
export function auditRow(input: AuditInput) {
  return {
    userId: input.actor?.id ?? null,
    userEmail: input.actor?.email ?? null,
    action: input.action,
    result: input.result,
    targetType: input.targetType ?? null,
    targetId: input.targetId ?? null,
    clientIp: input.clientIp ?? null,
    details: input.details ? JSON.stringify(input.details).slice(0, 4000) : null,
  };
}

export async function recordAudit(input: AuditInput): Promise<void> {
  try {
    await db().auditEvent.create({ data: auditRow(input) });
  } catch (error) {
    // Auditing must never turn a user's successful action into a failure; it is logged instead.
    logError("audit write failed", error, { action: input.action });
  }
}
