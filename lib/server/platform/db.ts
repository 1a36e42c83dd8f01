import "server-only";
// One Prisma client per process. SQLite (embedded default) or PostgreSQL, chosen by DATABASE_URL.
// Both generated clients come from identical models, so the SQLite client's types describe both.
import { closeSync, existsSync, openSync } from "node:fs";
import { PrismaBetterSqlite3 } from "@prisma/adapter-better-sqlite3";
import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient as SqliteClient } from "../../generated/sqlite/client";
import { PrismaClient as PostgresClient } from "../../generated/postgres/client";
import { env } from "./env";

export type Db = SqliteClient;

const globalForDb = globalThis as unknown as { polyarchDb?: Db };

export function isPostgres(url = env().databaseUrl): boolean {
  return /^postgres(ql)?:\/\//.test(url);
}

function create(): Db {
  const url = env().databaseUrl;
  if (isPostgres(url)) {
    const adapter = new PrismaPg({ connectionString: url, max: 10 });
    return new PostgresClient({ adapter }) as unknown as Db;
  }
  createPrivately(url.replace(/^file:/, ""));
  const adapter = new PrismaBetterSqlite3({ url, timeout: 10_000 });
  return new SqliteClient({ adapter });
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

export function db(): Db {
  globalForDb.polyarchDb ??= create();
  return globalForDb.polyarchDb;
}

/** Tests only: forget the client so the next db() call follows a changed DATABASE_URL. */
export async function resetDbForTests(): Promise<void> {
  const current = globalForDb.polyarchDb;
  globalForDb.polyarchDb = undefined;
  await current?.$disconnect();
}
