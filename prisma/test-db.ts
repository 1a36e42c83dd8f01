// Fresh, migrated databases for tests — one per call, so tests never see each other's data.
//
//   const db = await freshSqlite();            // temp file, migrated; db.url = "file:/tmp/…/test.db"
//   const pg = await freshPostgres();          // null when POLYARCH_TEST_PG_URL is unset
//   …; await db.drop(); await pg?.drop();
//
// PostgreSQL: POLYARCH_TEST_PG_URL points at the private test server (scripts/pg-test-server.sh start
// prints it; its role may CREATE DATABASE). Each call creates polyarch_test_<random> on that server
// and drops it (WITH (FORCE)) in drop().
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { migrate } from "../scripts/migrate.mjs";

export interface TestDatabase {
  provider: "sqlite" | "postgresql";
  url: string;
  drop(): Promise<void>;
}

export function testPgUrl(): string | undefined {
  return process.env.POLYARCH_TEST_PG_URL || undefined;
}

export async function freshSqlite({ migrated = true } = {}): Promise<TestDatabase> {
  const dir = mkdtempSync(join(tmpdir(), "polyarch-test-db-"));
  const url = `file:${join(dir, "test.db")}`;
  if (migrated) await migrate({ url });
  return { provider: "sqlite", url, drop: async () => rmSync(dir, { recursive: true, force: true }) };
}

export async function freshPostgres({ migrated = true, baseUrl = testPgUrl() } = {}): Promise<TestDatabase | null> {
  if (!baseUrl) return null;
  const name = `polyarch_test_${Date.now().toString(36)}_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const u = new URL(baseUrl);
  u.pathname = `/${name}`;
  const url = u.toString();
  if (migrated) await migrate({ url });
  return {
    provider: "postgresql",
    url,
    drop: async () => {
      const c = new pg.Client({ connectionString: baseUrl });
      await c.connect();
      try {
        // FORCE may not terminate an autovacuum worker that just started on the new database
        // (it runs as the superuser): that worker ends by itself, so wait and try again.
        for (let attempt = 1; ; attempt++) {
          try {
            await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
            break;
          } catch (error) {
            if (attempt >= 10 || !/pg_signal_backend|being accessed by other users/.test(String(error))) throw error;
            await new Promise((r) => setTimeout(r, 300 * attempt));
          }
        }
      } finally {
        await c.end();
      }
    },
  };
}
