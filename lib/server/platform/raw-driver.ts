import "server-only";
// The database driver itself, below Prisma, for the few statements that run on every heartbeat
// (issue 16, ADR 043: 100 a second at 1,000 agents; Prisma's request layer and driver adapter were
// half of their CPU). Statements are prepared once: better-sqlite3 statements kept per connection,
// pg named statements (prepared per pooled connection on first use). Everything else uses db().
//
// SQLite: a read-only connection for reads and one for writes, on the file db() uses (WAL, set at
// startup). better-sqlite3 runs synchronously, so SQLite's busy wait would block the event loop
// (and with it a Prisma transaction holding the lock: a deadlock until the timeout); the writer
// waits without a busy handler and retries on SQLITE_BUSY asynchronously instead, for as long as
// the Prisma adapter's timeout (10 s).
// PostgreSQL: its own pg.Pool with db()'s pool settings. Connection failures are tagged with the
// adapter's error kind so that isDatabaseUnavailable (and so a 503) sees them as before.
import Database from "better-sqlite3";
import pg from "pg";
import { env } from "./env";

/** SQLite's busy timeout, as the Prisma adapter's: how long a write waits for the lock. */
export const SQLITE_BUSY_TIMEOUT_MS = 10_000;
const SQLITE_RETRY_MS = 2;

/** The pool settings db() and rawDriver() share (see db.ts for why each one). */
export function pgPoolConfig(connectionString: string): pg.PoolConfig {
  return {
    connectionString,
    max: 10,
    connectionTimeoutMillis: 15_000,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  };
}

export interface SqliteDriver {
  kind: "sqlite";
  /** a read-only connection; prepare statements once and keep them */
  reader: Database.Database;
  /** runs `work` in an IMMEDIATE transaction on the write connection, waiting for the lock asynchronously */
  write<T>(work: (db: Database.Database) => T): Promise<T>;
}
export interface PostgresDriver {
  kind: "postgresql";
  /** runs a named (prepared once per connection) statement */
  query<R extends pg.QueryResultRow>(name: string, text: string, values: unknown[]): Promise<R[]>;
}
export type RawDriver = SqliteDriver | PostgresDriver;

interface Open {
  url: string;
  driver: RawDriver;
  close(): Promise<void>;
}

const globalForRaw = globalThis as unknown as { polyarchRawDriver?: Open };

/** The driver for the database db() uses (opened on first use, reopened when DATABASE_URL changes). */
export function rawDriver(): RawDriver {
  const url = env().databaseUrl;
  const open = globalForRaw.polyarchRawDriver;
  if (open?.url === url) return open.driver;
  if (open) void open.close();
  const driver = /^postgres(ql)?:\/\//.test(url) ? openPostgres(url) : openSqlite(url.replace(/^file:/, ""));
  globalForRaw.polyarchRawDriver = { url, ...driver };
  return driver.driver;
}

/** Closes the driver (with the Prisma client: resetDbForTests, shutdown). */
export async function closeRawDriver(): Promise<void> {
  const open = globalForRaw.polyarchRawDriver;
  globalForRaw.polyarchRawDriver = undefined;
  await open?.close();
}

function openSqlite(path: string): Omit<Open, "url"> {
  let reader: Database.Database | null = null;
  let writer: Database.Database | null = null;
  const writerDb = () => {
    writer ??= new Database(path, { timeout: 0 });
    return writer;
  };
  const driver: SqliteDriver = {
    kind: "sqlite",
    get reader() {
      // Read-only needs the file to exist; in-memory databases (never shared with Prisma) are not supported.
      reader ??= new Database(path, { readonly: true, fileMustExist: true, timeout: SQLITE_BUSY_TIMEOUT_MS });
      return reader;
    },
    async write(work) {
      const db = writerDb();
      const run = db.transaction(work);
      const deadline = Date.now() + SQLITE_BUSY_TIMEOUT_MS;
      for (;;) {
        try {
          return run.immediate(db);
        } catch (error) {
          const code = (error as { code?: unknown }).code;
          if ((code !== "SQLITE_BUSY" && code !== "SQLITE_LOCKED") || Date.now() >= deadline) throw error;
          await new Promise((resolve) => setTimeout(resolve, SQLITE_RETRY_MS));
        }
      }
    },
  };
  return {
    driver,
    async close() {
      reader?.close();
      writer?.close();
    },
  };
}

/** Errors of a connection that failed or was cut (not of a bad statement). */
const CONNECTION_ERRNOS = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "EHOSTUNREACH", "ENOTFOUND"]);

/**
 * How long a connection of the driver's pool may stay idle. pg's default (10 s) closes the spare
 * connections of a burst (a batch write beside the reads) and opens them again at the next one:
 * each reconnect is a backend start and a SCRAM login. The heartbeats keep this pool busy, so its
 * connections live on (profiled at 1,000 agents: ~0.3 % of a core on reconnects, issue 16).
 */
const RAW_PG_IDLE_MS = 5 * 60_000;

function openPostgres(url: string): Omit<Open, "url"> {
  // allowExitOnIdle: idle connections kept this long must not hold a process (a script, a test) open.
  const pool = new pg.Pool({ ...pgPoolConfig(url), idleTimeoutMillis: RAW_PG_IDLE_MS, allowExitOnIdle: true });
  // An idle client's connection dropped (a server restart): the pool discards it; never crash on it.
  pool.on("error", () => {});
  const driver: PostgresDriver = {
    kind: "postgresql",
    async query(name, text, values) {
      try {
        return (await pool.query({ name, text, values })).rows;
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        if (typeof code === "string" && CONNECTION_ERRNOS.has(code))
          throw Object.assign(new Error(`Can't reach database server: ${(error as Error).message}`), {
            kind: "DatabaseNotReachable",
            cause: error,
          });
        throw error;
      }
    },
  };
  return { driver, close: () => pool.end() };
}

// Statements of one connection, by SQL text; the map goes with the connection (closeRawDriver).
const preparedByConnection = new WeakMap<Database.Database, Map<string, Database.Statement>>();

/**
 * `sql` prepared on this SQLite connection, once for the connection's life: preparing is most of a
 * short statement's cost (issue 16). The SQL must be a constant text (it is the cache key), never
 * built from values: those go in as parameters. The statement is shared: a mode set on it (pluck,
 * raw) stays, so a text read in a mode is always read in it.
 */
export function sqliteStatement(conn: Database.Database, sql: string): Database.Statement {
  let statements = preparedByConnection.get(conn);
  if (!statements) preparedByConnection.set(conn, (statements = new Map()));
  let statement = statements.get(sql);
  if (!statement) statements.set(sql, (statement = conn.prepare(sql)));
  return statement;
}

/**
 * A timestamp parameter as Prisma writes it: on SQLite ISO-8601 text ending "+00:00" (the adapter's
 * format; text columns compare as strings, so it must match), on PostgreSQL the UTC wall time (a
 * zone in the literal is ignored for `timestamp without time zone`, Prisma's DateTime column).
 */
export function driverTimestamp(driver: RawDriver, at: Date): string {
  const iso = at.toISOString();
  return driver.kind === "sqlite" ? iso.replace("Z", "+00:00") : iso;
}
