// A fingerprint of the whole database (row count and content hash per table), to prove that a request the
// API refused (4xx) wrote nothing, not even half of something. SQLite only: the fuzz runs on a fresh file.
import { createHash } from "node:crypto";
import { db } from "../../platform";

/**
 * What a refused request legitimately writes, and so is left out: the audit log records every denial
 * (its purpose); a Bearer token's lastUsedAt and a session's updatedAt are touched by authentication,
 * which happens before the request is judged. An operation the agent refused answers 4xx and leaves its
 * task *failed* with the reason (what the user sees in the task list): tasks and their steps are compared
 * by the rows that are not failed, so only a task left pending/running/succeeded by a refusal counts.
 */
const IGNORED_TABLES = new Set(["AuditEvent", "_prisma_migrations"]);
const IGNORED_COLUMNS: Record<string, string[]> = { ApiToken: ["lastUsedAt"], Session: ["updatedAt", "expiresAt"] };

export type Fingerprint = Record<string, { rows: number; hash: string }>;

export async function fingerprint(): Promise<Fingerprint> {
  const tables = await db().$queryRawUnsafe<{ name: string }[]>(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
  );
  const out: Fingerprint = {};
  for (const { name } of tables) {
    if (IGNORED_TABLES.has(name)) continue;
    const where =
      name === "Task"
        ? ` WHERE status <> 'failed'`
        : name === "TaskStep"
          ? ` WHERE "taskId" IN (SELECT id FROM "Task" WHERE status <> 'failed')`
          : "";
    const rows = await db().$queryRawUnsafe<Record<string, unknown>[]>(`SELECT * FROM "${name}"${where}`);
    const skip = IGNORED_COLUMNS[name] ?? [];
    const lines = rows
      .map((r) =>
        JSON.stringify(
          Object.entries(r).filter(([k]) => !skip.includes(k)),
          (_k, v) => (typeof v === "bigint" ? String(v) : v),
        ),
      )
      .sort();
    out[name] = { rows: rows.length, hash: createHash("sha256").update(lines.join("\n")).digest("hex").slice(0, 16) };
  }
  return out;
}

/** The tables whose fingerprint differs, "" when none. */
export function fingerprintDiff(a: Fingerprint, b: Fingerprint): string {
  const names = [...new Set([...Object.keys(a), ...Object.keys(b)])];
  return names
    .filter((n) => a[n]?.hash !== b[n]?.hash)
    .map((n) => `${n} (${a[n]?.rows ?? 0} → ${b[n]?.rows ?? 0} rows)`)
    .join(", ");
}
