import "server-only";
// One Prisma client per process. SQLite (embedded default) or PostgreSQL, chosen by DATABASE_URL.
// Both generated clients come from identical models, so the SQLite client's types describe both.
import { closeSync, existsSync, openSync } from "node:fs";
import { PrismaBetterSqlite3 } from "@prisma/adapter-better-sqlite3";
import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient as SqliteClient } from "../../generated/sqlite/client";
import { PrismaClient as PostgresClient } from "../../generated/postgres/client";
import { env } from "./env";
import { closeRawDriver, pgPoolConfig } from "./raw-driver";

export type Db = SqliteClient;

const globalForDb = globalThis as unknown as { polyarchDb?: Db };

export function isPostgres(url = env().databaseUrl): boolean {
  return /^postgres(ql)?:\/\//.test(url);
}

function create(): Db {
  const url = env().databaseUrl;
  if (isPostgres(url)) {
    // pg's defaults wait forever: for a free pool slot / a TCP connect to a server that does not answer
    // (connectionTimeoutMillis), and for a query on a connection whose server vanished without a reset
    // (keepAlive ends it at the TCP level). A restarted server's dead idle connections are dropped by
    // pg.Pool itself (the adapter listens for their 'error', so they never crash the process).
    // (Those settings are pgPoolConfig's, shared with rawDriver()'s pool.)
    const adapter = new PrismaPg(pgPoolConfig(url));
    return new PostgresClient({ adapter }) as unknown as Db;
  }
  createPrivately(url.replace(/^file:/, ""));
  const adapter = withStatementCache(new PrismaBetterSqlite3({ url, timeout: 10_000 }));
  return new SqliteClient({ adapter });
}

/** The slice of a better-sqlite3 statement the Prisma adapter uses (prepare → bind → run / raw().all()). */
interface SqliteStatement {
  reader: boolean;
  columns(): unknown[];
  raw(on?: boolean): SqliteStatement;
  run(...args: unknown[]): unknown;
  all(...args: unknown[]): unknown[];
}
type SqliteConnection = { prepare(sql: string): SqliteStatement };

/** How many distinct SQL texts stay prepared per connection (Prisma's are a few hundred; IN lists vary). */
export const STATEMENT_CACHE_SIZE = 1000;

/**
 * The Prisma adapter prepares every statement anew (SQLite parses and plans it each time: a tenth of
 * a create's CPU). This keeps each connection's statements by SQL text (least recently used out) and
 * hands the adapter a one-use view bound to its arguments, as `prepare(sql).bind(args)` would be.
 * better-sqlite3 runs a statement to completion synchronously and the adapter never iterates, so a
 * statement is never in use twice at once; SQLite re-prepares a kept statement itself after a schema change.
 */
export function cachePreparedStatements(connection: SqliteConnection, size = STATEMENT_CACHE_SIZE): void {
  const prepare = connection.prepare.bind(connection);
  // A statement with its result columns (the same on every run of the same SQL text: Prisma names them).
  const cache = new Map<string, { stmt: SqliteStatement; columns?: unknown[] }>();
  connection.prepare = (sql: string) => {
    let kept = cache.get(sql);
    if (kept) cache.delete(sql);
    else {
      kept = { stmt: prepare(sql) };
      if (cache.size >= size) cache.delete(cache.keys().next().value!);
    }
    cache.set(sql, kept);
    const k = kept;
    const s = kept.stmt;
    return {
      // the adapter's BEGIN: prepare("BEGIN").run()
      run: () => s.run(),
      bind: (args: unknown[]) => ({
        reader: s.reader,
        columns: () => (k.columns ??= s.columns()),
        raw: () => ({ all: () => s.raw(true).all(args) }),
        run: () => s.run(args),
      }),
    } as unknown as SqliteStatement;
  };
}

type AdapterFactory = PrismaBetterSqlite3;

/** The adapter factory with cachePreparedStatements on every connection it opens. */
function withStatementCache(factory: AdapterFactory): AdapterFactory {
  const connect = factory.connect.bind(factory);
  factory.connect = async () => {
    const adapter = await connect();
    cachePreparedStatements((adapter as unknown as { client: SqliteConnection }).client);
    return adapter;
  };
  return factory;
}

/**
 * A missing SQLite file is created 0600 before SQLite opens it (it would use 0644; its -wal and
 * -journal files take the main file's mode). scripts/migrate.mjs normally made it already.
 */
function createPrivately(path: string): void {
  if (!path || path === ":memory:" || existsSync(path)) return;
  try {
    closeSync(openSync(path, "a", 0o600));
  } catch {
    // e.g. the folder is missing: SQLite reports it when it opens the file, with the path
  }
}

// "The database cannot be reached right now" (a restart, a crash, a network fault), as opposed to a bad query:
// Prisma's connection codes, the pg adapter's error kinds, PostgreSQL's SQLSTATEs for a lost connection
// (class 08), a server shutting down or starting up (57P01-57P03) or full (53300), and pg's own messages.
const UNAVAILABLE_PRISMA_CODES = new Set(["P1001", "P1002", "P1008", "P1017", "P2024", "P2037"]);
const UNAVAILABLE_ADAPTER_KINDS = new Set([
  "DatabaseNotReachable",
  "ConnectionClosed",
  "SocketTimeout",
  "TooManyConnections",
]);
const UNAVAILABLE_SQLSTATE = /^(08[0-9A-Z]{3}|57P0[123]|53300)$/;
const UNAVAILABLE_MESSAGE = new RegExp(
  [
    "Connection terminated",
    "Client has encountered a connection error",
    "timeout exceeded when trying to connect",
    "Can't reach database server",
    "the database system is (starting up|shutting down|in recovery mode|not yet accepting connections)",
    "terminating connection due to (administrator command|crash of another server process)",
  ].join("|"),
  "i",
);

/** Prisma's unique-constraint violation (P2002): the row another request created first. */
export function isUniqueViolation(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { code?: unknown }).code === "P2002";
}

export const DATABASE_UNAVAILABLE_MESSAGE = "The database is unavailable right now; try again in a moment.";

/** True when `error` (or what it wraps: `cause`, Prisma's `meta.driverAdapterError`) says the database is unreachable. */
export function isDatabaseUnavailable(error: unknown): boolean {
  const seen = new Set<unknown>();
  const visit = (e: unknown): boolean => {
    if (!e || typeof e !== "object" || seen.has(e) || seen.size > 8) return false;
    seen.add(e);
    const o = e as { name?: unknown; code?: unknown; originalCode?: unknown; kind?: unknown; message?: unknown };
    if (o.name === "PrismaClientInitializationError") return true;
    for (const code of [o.code, o.originalCode])
      if (typeof code === "string" && (UNAVAILABLE_PRISMA_CODES.has(code) || UNAVAILABLE_SQLSTATE.test(code)))
        return true;
    if (typeof o.kind === "string" && UNAVAILABLE_ADAPTER_KINDS.has(o.kind)) return true;
    if (typeof o.message === "string" && UNAVAILABLE_MESSAGE.test(o.message)) return true;
    const meta = (e as { meta?: { driverAdapterError?: unknown } }).meta;
    return visit((e as { cause?: unknown }).cause) || visit(meta?.driverAdapterError);
  };
  return visit(error);
}

export function db(): Db {
  globalForDb.polyarchDb ??= create();
  return globalForDb.polyarchDb;
}

/** Tests only: forget the client so the next db() call follows a changed DATABASE_URL. */
export async function resetDbForTests(): Promise<void> {
  const current = globalForDb.polyarchDb;
  globalForDb.polyarchDb = undefined;
  await closeRawDriver();
  await current?.$disconnect();
}
