// `npm run db:migrate`: applies the committed SQL migrations (prisma/migrations for SQLite,
// prisma/postgres/migrations for PostgreSQL) — the offline stand-in for `prisma migrate deploy`,
// whose native schema engine cannot be downloaded here. Plain Node ESM: runs before any build.
//
//   DATABASE_URL  file:<path> (SQLite, relative to the working directory) | postgresql://… (PostgreSQL)
//                 default: file:<POLYARCH_DATA_DIR or ./data>/polyarch.db
//   node scripts/migrate.mjs            apply pending migrations
//   node scripts/migrate.mjs --status   list applied / pending, change nothing (exit 3 when pending)
//
// Compatible with Prisma: every migration is recorded in `_prisma_migrations` (same table, columns,
// id = uuid, checksum = sha256 hex of migration.sql, applied_steps_count = 1), so `prisma migrate
// deploy|status` agree where the native engine exists. Each migration runs in its own transaction,
// together with its record: a failure leaves the database as it was (nothing half-applied to resolve).
// Refuses to run when an applied migration's file changed (checksum), or when Prisma recorded a failed
// migration (resolve it with `prisma migrate resolve`). Concurrent starts migrate once: PostgreSQL
// takes Prisma's own advisory lock (72707369) for the whole run; SQLite holds its write lock (BEGIN
// IMMEDIATE) for the whole run, each migration in a savepoint, and reads the applied list inside it.
import { createHash, randomUUID } from "node:crypto";
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));

/** Prisma's schema engine uses this advisory lock key for migrations on PostgreSQL. */
export const PG_MIGRATION_LOCK = 72707369;

export const MIGRATION_DIRS = {
  sqlite: join(root, "prisma/migrations"),
  postgresql: join(root, "prisma/postgres/migrations"),
};

// Exactly the DDL the Prisma schema engine uses (checked against prisma migrate deploy 6.19).
const TABLE_DDL = {
  sqlite: `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    TEXT PRIMARY KEY NOT NULL,
    "checksum"              TEXT NOT NULL,
    "finished_at"           DATETIME,
    "migration_name"        TEXT NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        DATETIME,
    "started_at"            DATETIME NOT NULL DEFAULT current_timestamp,
    "applied_steps_count"   INTEGER UNSIGNED NOT NULL DEFAULT 0
)`,
  postgresql: `CREATE TABLE IF NOT EXISTS _prisma_migrations (
    id                      VARCHAR(36) PRIMARY KEY NOT NULL,
    checksum                VARCHAR(64) NOT NULL,
    finished_at             TIMESTAMPTZ,
    migration_name          VARCHAR(255) NOT NULL,
    logs                    TEXT,
    rolled_back_at          TIMESTAMPTZ,
    started_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    applied_steps_count     INTEGER NOT NULL DEFAULT 0
)`,
};

/** A migration that must not run inside a transaction (e.g. CREATE INDEX CONCURRENTLY) starts with this line. */
const NO_TRANSACTION = /^--\s*polyarch:no-transaction\b/;

export class MigrationError extends Error {
  name = "MigrationError";
}

export function defaultDatabaseUrl(env = process.env) {
  return `file:${join(env.POLYARCH_DATA_DIR || "./data", "polyarch.db")}`;
}

export function resolveDatabaseUrl(env = process.env) {
  return env.DATABASE_URL || defaultDatabaseUrl(env);
}

export function providerOf(url) {
  if (/^postgres(ql)?:\/\//i.test(url)) return "postgresql";
  if (/^file:/i.test(url)) return "sqlite";
  throw new MigrationError(
    `DATABASE_URL must start with file: (SQLite) or postgresql:// (PostgreSQL), got ${redact(url)}`,
  );
}

/** file:./data/x.db | file:/abs/x.db | file:x.db?mode=… → absolute path (relative to cwd, like the runtime adapter). */
export function sqlitePath(url, cwd = process.cwd()) {
  let path = url.replace(/^file:/i, "").replace(/\?.*$/, "");
  if (path.startsWith("//")) path = fileURLToPath(`file:${path}`);
  if (!path || path === ":memory:")
    throw new MigrationError("an in-memory SQLite database cannot be migrated persistently");
  return isAbsolute(path) ? path : resolve(cwd, path);
}

export function redact(url) {
  return String(url).replace(/\/\/([^:/@]+):[^@]*@/, "//$1:***@");
}

/**
 * The data dir holds the database, the controller secret and the cluster CA key: created 0700
 * (like the SQLite file's folder). An existing one is left as the operator made it; main() warns
 * when others can read it.
 */
export function ensurePrivateDir(dir) {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/**
 * Creates the SQLite file 0600 before SQLite opens it (SQLite would create it 0644 under the usual
 * umask), and takes group/other access away from an existing one and its -wal, -shm and -journal
 * files (SQLite creates those with the main file's mode, so new ones follow). A file that cannot be
 * changed (another owner) is reported through `log`, not fatal.
 */
export function ensurePrivateSqliteFile(file, log = () => {}) {
  if (!existsSync(file)) closeSync(openSync(file, "a", 0o600));
  for (const f of [file, `${file}-wal`, `${file}-shm`, `${file}-journal`]) {
    let mode;
    try {
      mode = statSync(f).mode & 0o777;
    } catch (error) {
      if (error.code === "ENOENT") continue;
      throw error;
    }
    if ((mode & 0o077) === 0) continue;
    try {
      chmodSync(f, mode & 0o700);
    } catch (error) {
      log(
        `warning: ${f} is readable by other users (mode ${mode.toString(8)}) and could not be changed: ${error.message}`,
      );
    }
  }
}

/** sha256 hex of the file's bytes — what Prisma stores in _prisma_migrations.checksum. */
export function checksum(sql) {
  return createHash("sha256").update(sql).digest("hex");
}

/** Prisma accepts a checksum over the script with either line ending (git may convert them). */
function checksumMatches(sql, stored) {
  if (checksum(sql) === stored) return true;
  const lf = sql.replace(/\r\n/g, "\n");
  return checksum(lf) === stored || checksum(lf.replace(/\n/g, "\r\n")) === stored;
}

/** Local migrations, sorted by directory name (the timestamp prefix), like Prisma. */
export function readMigrations(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(dir, d.name, "migration.sql")))
    .map((d) => d.name)
    .sort()
    .map((name) => {
      const sql = readFileSync(join(dir, name, "migration.sql"), "utf8");
      return { name, sql, checksum: checksum(sql) };
    });
}

/**
 * Compares the recorded rows with the local migrations. Returns the pending ones, or throws when the
 * history cannot be trusted. `rows`: { migration_name, checksum, finished_at, rolled_back_at }.
 */
export function plan(local, rows, log = () => {}) {
  const failed = rows.filter((r) => r.finished_at == null && r.rolled_back_at == null);
  if (failed.length) {
    throw new MigrationError(
      `migration ${failed.map((r) => r.migration_name).join(", ")} failed earlier and was left unfinished (Prisma P3009). ` +
        "Fix the database by hand, then mark it with `prisma migrate resolve --rolled-back|--applied <name>` " +
        "or delete its row from _prisma_migrations.",
    );
  }
  const applied = new Map();
  for (const r of rows) if (r.finished_at != null && r.rolled_back_at == null) applied.set(r.migration_name, r);
  const byName = new Map(local.map((m) => [m.name, m]));
  for (const [name, row] of applied) {
    const m = byName.get(name);
    if (!m) log(`warning: ${name} is recorded in the database but missing from the migrations folder`);
    else if (!checksumMatches(m.sql, row.checksum)) {
      throw new MigrationError(
        `migration ${name} was modified after it was applied (checksum ${row.checksum.slice(0, 12)}… in the database, ` +
          `${m.checksum.slice(0, 12)}… on disk). Restore the file and add a new migration instead.`,
      );
    }
  }
  return local.filter((m) => !applied.has(m.name));
}

// ---------------------------------------------------------------------------------------------- SQLite

async function migrateSqlite({ url, dir, log, statusOnly, busyTimeoutMs }) {
  const { default: Database } = await import("better-sqlite3");
  const file = sqlitePath(url);
  ensurePrivateDir(dirname(file));
  ensurePrivateSqliteFile(file, log);
  const db = new Database(file, { timeout: busyTimeoutMs });
  const local = readMigrations(dir);
  const applied = [];
  try {
    if (statusOnly) {
      const exists = db
        .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_prisma_migrations'")
        .get();
      const rows = exists ? db.prepare('SELECT * FROM "_prisma_migrations"').all() : [];
      return { provider: "sqlite", applied, pending: plan(local, rows, log).map((m) => m.name), total: local.length };
    }
    // The whole run holds SQLite's write lock (BEGIN IMMEDIATE), so a second migrate started at the
    // same moment waits and then finds nothing pending; each migration is a savepoint inside it, so
    // a failing one is rolled back alone and the ones before it are kept. Foreign keys stay off
    // while migrations run (Prisma's table redefinitions rely on it; the PRAGMA is a no-op inside a
    // transaction, so it is set here) and are checked after each migration.
    db.pragma("foreign_keys = OFF");
    db.exec("BEGIN IMMEDIATE");
    const done = [];
    try {
      db.exec(TABLE_DDL.sqlite);
      const rows = db.prepare('SELECT * FROM "_prisma_migrations"').all();
      for (const next of plan(local, rows, log)) {
        if (NO_TRANSACTION.test(next.sql))
          log(`note: ${next.name} asks for no transaction; SQLite runs it in one anyway`);
        db.exec("SAVEPOINT polyarch_migration");
        try {
          const startedAt = new Date().toISOString().replace("Z", "+00:00");
          db.exec(next.sql);
          const violations = db.pragma("foreign_key_check");
          if (violations.length) {
            throw new MigrationError(
              `foreign key violations after ${next.name}: ${JSON.stringify(violations.slice(0, 5))}`,
            );
          }
          db.prepare(
            'INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count) ' +
              "VALUES (?, ?, ?, ?, NULL, NULL, ?, 1)",
          ).run(randomUUID(), next.checksum, new Date().toISOString().replace("Z", "+00:00"), next.name, startedAt);
          db.exec("RELEASE polyarch_migration");
        } catch (err) {
          // (SQLite may already have rolled the whole transaction back on some errors: then nothing is kept.)
          if (db.inTransaction) {
            db.exec("ROLLBACK TO polyarch_migration");
            db.exec("RELEASE polyarch_migration");
            db.exec("COMMIT"); // keep the migrations applied before this one
            for (const name of done) log(`applied ${name}`);
            applied.push(...done);
          }
          if (!(err instanceof MigrationError))
            throw new MigrationError(`migration ${next.name} failed and was rolled back: ${err.message}`);
          throw err;
        }
        done.push(next.name);
      }
      db.exec("COMMIT");
    } catch (err) {
      if (db.inTransaction) db.exec("ROLLBACK");
      throw err;
    }
    for (const name of done) log(`applied ${name}`);
    applied.push(...done);
  } finally {
    try {
      db.pragma("foreign_keys = ON");
    } finally {
      db.close();
    }
  }
  return { provider: "sqlite", applied, pending: [], total: local.length };
}

// ------------------------------------------------------------------------------------------ PostgreSQL

/** Prisma's `?schema=` parameter selects the PostgreSQL schema; pg itself does not know it. */
export function pgConnection(url) {
  const u = new URL(url);
  const schema = u.searchParams.get("schema") || "public";
  u.searchParams.delete("schema");
  return { connectionString: u.toString(), schema };
}

async function migratePostgres({ url, dir, log, statusOnly, lockTimeoutMs }) {
  const { default: pg } = await import("pg");
  const { connectionString, schema } = pgConnection(url);
  const client = new pg.Client({
    connectionString,
    connectionTimeoutMillis: 15_000,
    application_name: "polyarch-migrate",
  });
  client.on("error", () => {}); // reported through the failing query instead
  await client.connect();
  const local = readMigrations(dir);
  const applied = [];
  const ident = (s) => `"${s.replace(/"/g, '""')}"`;
  try {
    await client.query(`SET search_path TO ${ident(schema)}`);
    const readRows = async () => {
      const exists = await client.query("SELECT to_regclass('_prisma_migrations') IS NOT NULL AS present");
      return exists.rows[0].present ? (await client.query("SELECT * FROM _prisma_migrations")).rows : [];
    };
    if (statusOnly) {
      return {
        provider: "postgresql",
        applied,
        pending: plan(local, await readRows(), log).map((m) => m.name),
        total: local.length,
      };
    }

    await client.query(`SET statement_timeout = ${Math.max(1, Math.floor(lockTimeoutMs))}`);
    try {
      await client.query("SELECT pg_advisory_lock($1)", [PG_MIGRATION_LOCK]);
    } catch (err) {
      throw new MigrationError(
        `could not take the migration lock within ${lockTimeoutMs} ms (another migrate running?): ${err.message}`,
      );
    }
    await client.query("SET statement_timeout = 0");
    try {
      if (schema !== "public") await client.query(`CREATE SCHEMA IF NOT EXISTS ${ident(schema)}`);
      await client.query(TABLE_DDL.postgresql);
      const pending = plan(local, await readRows(), log);
      for (const m of pending) {
        const transactional = !NO_TRANSACTION.test(m.sql);
        const id = randomUUID();
        try {
          if (transactional) await client.query("BEGIN");
          const started = await client.query("SELECT now() AS t");
          await client.query(m.sql);
          await client.query(
            "INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count) " +
              "VALUES ($1, $2, now(), $3, NULL, NULL, $4, 1)",
            [id, m.checksum, m.name, started.rows[0].t],
          );
          if (transactional) await client.query("COMMIT");
        } catch (err) {
          if (transactional) {
            await client.query("ROLLBACK").catch(() => {});
            throw new MigrationError(`migration ${m.name} failed and was rolled back: ${err.message}`);
          }
          // Outside a transaction part of it may have run: record it as failed, like Prisma does.
          await client
            .query(
              "INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count) " +
                "VALUES ($1, $2, NULL, $3, $4, NULL, now(), 0)",
              [id, m.checksum, m.name, String(err.message)],
            )
            .catch(() => {});
          throw new MigrationError(
            `migration ${m.name} (no-transaction) failed; fix the database, then resolve it: ${err.message}`,
          );
        }
        applied.push(m.name);
        log(`applied ${m.name}`);
      }
    } finally {
      await client.query("SELECT pg_advisory_unlock($1)", [PG_MIGRATION_LOCK]).catch(() => {});
    }
  } finally {
    await client.end().catch(() => {});
  }
  return { provider: "postgresql", applied, pending: [], total: local.length };
}

// ------------------------------------------------------------------------------------------------ API

/**
 * Applies pending migrations to `url` (default: DATABASE_URL / the data dir). Returns
 * { provider, applied: names applied now, pending: names still pending (status mode), total }.
 * Options: migrationsDir (default per provider), log(msg), status (read only),
 * busyTimeoutMs (SQLite lock wait, 60 s), lockTimeoutMs (PostgreSQL advisory lock wait, 120 s).
 */
export async function migrate({
  url = resolveDatabaseUrl(),
  migrationsDir,
  log = () => {},
  status = false,
  busyTimeoutMs = 60_000,
  lockTimeoutMs = 120_000,
} = {}) {
  const provider = providerOf(url);
  const dir = migrationsDir ?? MIGRATION_DIRS[provider];
  const opts = { url, dir, log, statusOnly: status, busyTimeoutMs, lockTimeoutMs };
  return provider === "sqlite" ? migrateSqlite(opts) : migratePostgres(opts);
}

async function main() {
  const status = process.argv.includes("--status");
  const url = resolveDatabaseUrl();
  const log = (msg) => console.log(`migrate: ${msg}`);
  // The data dir holds the SQLite file, images, the controller secret and the CA: make sure it
  // exists whatever the database, private to this user.
  const dataDir = resolve(process.env.POLYARCH_DATA_DIR || "./data");
  ensurePrivateDir(dataDir);
  const dirMode = statSync(dataDir).mode & 0o777;
  if (dirMode & 0o077)
    log(`warning: the data dir ${dataDir} is open to other users (mode ${dirMode.toString(8)}); chmod 700 it`);
  const started = Date.now();
  const result = await migrate({ url, status, log });
  const where = `${result.provider} ${redact(url)}`;
  if (status) {
    log(
      `${where}: ${result.total - result.pending.length} applied, ${result.pending.length} pending` +
        (result.pending.length ? ` (${result.pending.join(", ")})` : ""),
    );
    if (result.pending.length) process.exitCode = 3;
  } else if (result.applied.length) {
    log(`${where}: applied ${result.applied.length} migration(s) in ${Date.now() - started} ms`);
  } else {
    log(`${where}: up to date (${result.total} migrations)`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((err) => {
    console.error(`migrate: ${err instanceof MigrationError ? err.message : err.stack || err}`);
    process.exit(1);
  });
}
