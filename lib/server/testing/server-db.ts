// Runs server-module tests against real, freshly migrated databases: SQLite always, PostgreSQL
// when the test command started one (POLYARCH_TEST_PG_URL).
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freshPostgres, freshSqlite, testPgUrl, type TestDatabase } from "../../../prisma/test-db";
import { resetDbForTests } from "../platform";
import { resetEnvForTests } from "../platform";

export const PROVIDERS = ["sqlite", ...(testPgUrl() ? (["postgresql"] as const) : [])] as const;

export async function useFreshDatabase(provider: "sqlite" | "postgresql"): Promise<TestDatabase> {
  const database = provider === "sqlite" ? await freshSqlite() : await freshPostgres();
  if (!database) throw new Error("POLYARCH_TEST_PG_URL is not set");
  process.env.DATABASE_URL = database.url;
  process.env.POLYARCH_DATA_DIR = mkdtempSync(join(tmpdir(), "polyarch-test-data-"));
  process.env.BETTER_AUTH_SECRET = "test-secret-0123456789abcdef0123456789abcdef";
  // Tests that register hosts run without the agent TLS port and need no admin approval (ADR 025);
  // the tests of those defences (lib/server/hosts/hostile-agent.int.test.ts) turn both off.
  process.env.POLYARCH_AUTO_APPROVE_HOSTS ??= "true";
  process.env.POLYARCH_AGENT_API_ON_CONSOLE_PORT ??= "true";
  process.env.POLYARCH_JOIN_TOKEN ??= "test-join-token-0123456789abcdef";
  resetEnvForTests();
  await resetDbForTests();
  // better-auth binds to the Prisma client it was made with: the next auth() follows the new database.
  (globalThis as { polyarchAuth?: unknown }).polyarchAuth = undefined;
  return database;
}

export async function releaseDatabase(database: TestDatabase | undefined): Promise<void> {
  await resetDbForTests();
  await database?.drop();
}
