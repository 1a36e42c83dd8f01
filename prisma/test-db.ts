// Fresh, migrated databases for tests — one per call, so tests never see each other's data.
//
//   const db = await freshSqlite();            // temp file, migrated; db.url = "file:/tmp/…/test.db"
//   const pg = await freshPostgres();          // null when POLYARCH_TEST_PG_URL is unset
//   …; await db.drop(); await pg?.drop();
//
// PostgreSQL: POLYARCH_TEST_PG_URL points at the private test server (scripts/pg-test-server.sh start
// prints it; its role may CREATE DATABASE). Each call creates polyarch_test_<random> on that server
// and drops it (WITH (FORCE)) in drop().
//
// Migrating costs ~30 ms on SQLite and ~320 ms on PostgreSQL per database (measured), and hundreds of
// tests each take a fresh one. So the committed migrations run once, through scripts/migrate.mjs as in
// production, into a template named by a hash of the migration files and the migrator; each fresh
// database is a copy of it: a file copy on SQLite, CREATE DATABASE … TEMPLATE on PostgreSQL
// (50–170 ms, idle to loaded).
// `migrated: false` gives an empty database for the tests of migrate itself.
import { createHash, randomBytes } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { migrate, MIGRATION_DIRS, readMigrations } from "../scripts/migrate.mjs";

export interface TestDatabase {
  provider: "sqlite" | "postgresql";
  url: string;
  drop(): Promise<void>;
}

export function testPgUrl(): string | undefined {
  return process.env.POLYARCH_TEST_PG_URL || undefined;
}

const hashes = new Map<string, string>();
/**
 * Names the migrated state: the migration files in order and the migrator that applies them. Read once
 * per process (every fresh database asks), as the files do not change while tests run.
 */
function migrationsHash(provider: "sqlite" | "postgresql"): string {
  let hex = hashes.get(provider);
  if (!hex) {
    const hash = createHash("sha256").update(readFileSync(new URL("../scripts/migrate.mjs", import.meta.url)));
    for (const m of readMigrations(MIGRATION_DIRS[provider])) hash.update(`${m.name}\0${m.checksum}\0`);
    hex = hash.digest("hex").slice(0, 16);
    hashes.set(provider, hex);
  }
  return hex;
}

/** A migrated SQLite file shared by the test processes, built once (atomic rename) and only read. */
async function sqliteTemplate(): Promise<string> {
  const dir = join(tmpdir(), "polyarch-test-templates");
  const file = join(dir, `sqlite-${migrationsHash("sqlite")}.db`);
  if (existsSync(file)) return file;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const building = mkdtempSync(join(dir, "building-"));
  try {
    await migrate({ url: `file:${join(building, "t.db")}` });
    renameSync(join(building, "t.db"), file);
  } finally {
    rmSync(building, { recursive: true, force: true });
  }
  return file;
}

export async function freshSqlite({ migrated = true } = {}): Promise<TestDatabase> {
  const dir = mkdtempSync(join(tmpdir(), "polyarch-test-db-"));
  const url = `file:${join(dir, "test.db")}`;
  if (migrated) copyFileSync(await sqliteTemplate(), join(dir, "test.db"));
  return { provider: "sqlite", url, drop: async () => rmSync(dir, { recursive: true, force: true }) };
}

const withDatabase = (baseUrl: string, name: string) => {
  const u = new URL(baseUrl);
  u.pathname = `/${name}`;
  return u.toString();
};

/** Advisory lock key (in the server's base database) held while a template is built. */
const PG_TEMPLATE_LOCK = 72707370;

/**
 * The migrated template on this server: polyarch_tpl_<hash>, built under an advisory lock so that
 * concurrent test processes build it once, then closed to connections (CREATE DATABASE … TEMPLATE
 * needs none open). Templates of other migration sets are dropped.
 */
async function pgTemplate(admin: pg.Client, baseUrl: string): Promise<string> {
  const name = `polyarch_tpl_${migrationsHash("postgresql")}`;
  const exists = async () => (await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [name])).rowCount === 1;
  if (await exists()) return name;
  await admin.query("SELECT pg_advisory_lock($1)", [PG_TEMPLATE_LOCK]);
  try {
    if (await exists()) return name;
    const stale = await admin.query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE datname LIKE 'polyarch_tpl%' OR datname LIKE 'polyarch_building%'",
    );
    for (const { datname } of stale.rows) {
      await admin.query(`ALTER DATABASE "${datname}" IS_TEMPLATE false`);
      await admin.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    }
    const building = `polyarch_building_${randomBytes(4).toString("hex")}`;
    await admin.query(`CREATE DATABASE "${building}"`);
    await migrate({ url: withDatabase(baseUrl, building) });
    // Closed to connections (autovacuum included), so copying it never waits on one.
    await admin.query(`ALTER DATABASE "${building}" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false`);
    await admin.query(`ALTER DATABASE "${building}" RENAME TO "${name}"`);
    return name;
  } finally {
    await admin.query("SELECT pg_advisory_unlock($1)", [PG_TEMPLATE_LOCK]);
  }
}

export async function freshPostgres({ migrated = true, baseUrl = testPgUrl() } = {}): Promise<TestDatabase | null> {
  if (!baseUrl) return null;
  const name = `polyarch_test_${Date.now().toString(36)}_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  try {
    const template = migrated ? ` TEMPLATE "${await pgTemplate(admin, baseUrl)}"` : "";
    await admin.query(`CREATE DATABASE "${name}"${template}`);
  } finally {
    await admin.end();
  }
  const url = withDatabase(baseUrl, name);
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
