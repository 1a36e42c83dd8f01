// scripts/migrate.mjs: ordering, Prisma-compatible records, checksum refusal, rollback, concurrency.
// Runs on SQLite always and on PostgreSQL when POLYARCH_TEST_PG_URL is set.
import { execFile } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import Database from "better-sqlite3";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { freshPostgres, freshSqlite, testPgUrl, type TestDatabase } from "../prisma/test-db";
import { checksum, migrate, MigrationError, sqlitePath } from "./migrate.mjs";

const run = promisify(execFile);
const scratch = mkdtempSync(join(tmpdir(), "polyarch-migrate-test-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let n = 0;
function migrationsDir(files: Record<string, string>) {
  const dir = join(scratch, `m${n++}`);
  for (const [name, sql] of Object.entries(files)) {
    mkdirSync(join(dir, name), { recursive: true });
    writeFileSync(join(dir, name, "migration.sql"), sql);
  }
  return dir;
}

async function rows(db: TestDatabase) {
  if (db.provider === "sqlite") {
    const d = new Database(sqlitePath(db.url));
    try {
      return d.prepare('SELECT * FROM "_prisma_migrations" ORDER BY migration_name').all() as Record<string, unknown>[];
    } finally {
      d.close();
    }
  }
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  try {
    return (await c.query("SELECT * FROM _prisma_migrations ORDER BY migration_name")).rows as Record<
      string,
      unknown
    >[];
  } finally {
    await c.end();
  }
}

const providers = [
  ["sqlite", () => freshSqlite({ migrated: false })],
  ...(testPgUrl() ? [["postgresql", () => freshPostgres({ migrated: false }) as Promise<TestDatabase>] as const] : []),
] as const;

describe.each(providers)("%s", (_provider, fresh) => {
  it("applies pending migrations in name order, once, and records them like Prisma", async () => {
    const db = await fresh();
    try {
      const a = 'CREATE TABLE "a" ("id" INTEGER NOT NULL PRIMARY KEY);\n';
      const b = 'ALTER TABLE "a" ADD COLUMN "x" TEXT;\n';
      const dir = migrationsDir({ "20260102000000_b": b, "20260101000000_a": a });
      expect((await migrate({ url: db.url, migrationsDir: dir })).applied).toEqual([
        "20260101000000_a",
        "20260102000000_b",
      ]);
      expect((await migrate({ url: db.url, migrationsDir: dir })).applied).toEqual([]);
      expect((await migrate({ url: db.url, migrationsDir: dir, status: true })).pending).toEqual([]);
      const r = await rows(db);
      expect(r.map((x) => [x.migration_name, x.checksum, x.applied_steps_count, x.logs, x.rolled_back_at])).toEqual([
        ["20260101000000_a", checksum(a), 1, null, null],
        ["20260102000000_b", checksum(b), 1, null, null],
      ]);
      expect(String(r[0]!.id)).toMatch(/^[0-9a-f-]{36}$/);
      expect(r[0]!.finished_at).not.toBeNull();
    } finally {
      await db.drop();
    }
  });

  it("refuses when an applied migration was edited, and rolls back a failing one", async () => {
    const db = await fresh();
    try {
      const dir = migrationsDir({ "20260101000000_a": 'CREATE TABLE "a" ("id" INTEGER NOT NULL PRIMARY KEY);\n' });
      await migrate({ url: db.url, migrationsDir: dir });
      writeFileSync(join(dir, "20260101000000_a", "migration.sql"), 'CREATE TABLE "a" ("id" TEXT);\n');
      await expect(migrate({ url: db.url, migrationsDir: dir })).rejects.toThrow(/modified after it was applied/);

      const dir2 = migrationsDir({
        "20260101000000_a": 'CREATE TABLE "a" ("id" INTEGER NOT NULL PRIMARY KEY);\n',
        "20260102000000_bad": 'CREATE TABLE "b" ("id" INTEGER);\nINSERT INTO "nope" VALUES (1);\n',
      });
      const err = await migrate({ url: db.url, migrationsDir: dir2 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MigrationError);
      expect(String(err)).toMatch(/20260102000000_bad failed and was rolled back/);
      expect((await rows(db)).map((x) => x.migration_name)).toEqual(["20260101000000_a"]);
      // table b was rolled back with it: fixing the file lets the migration apply
      writeFileSync(join(dir2, "20260102000000_bad", "migration.sql"), 'CREATE TABLE "b" ("id" INTEGER);\n');
      expect((await migrate({ url: db.url, migrationsDir: dir2 })).applied).toEqual(["20260102000000_bad"]);
    } finally {
      await db.drop();
    }
  });

  it("a failing migration in one run keeps the migrations before it", async () => {
    const db = await fresh();
    try {
      const dir = migrationsDir({
        "20260101000000_a": 'CREATE TABLE "a" ("id" INTEGER NOT NULL PRIMARY KEY);\n',
        "20260102000000_bad": 'CREATE TABLE "b" ("id" INTEGER);\nINSERT INTO "nope" VALUES (1);\n',
      });
      await expect(migrate({ url: db.url, migrationsDir: dir })).rejects.toThrow(
        /20260102000000_bad failed and was rolled back/,
      );
      expect((await rows(db)).map((x) => x.migration_name)).toEqual(["20260101000000_a"]);
      writeFileSync(join(dir, "20260102000000_bad", "migration.sql"), 'CREATE TABLE "b" ("id" INTEGER);\n');
      expect((await migrate({ url: db.url, migrationsDir: dir })).applied).toEqual(["20260102000000_bad"]);
    } finally {
      await db.drop();
    }
  });

  it("refuses to continue after a failed migration Prisma recorded (P3009)", async () => {
    const db = await fresh();
    try {
      const dir = migrationsDir({ "20260101000000_a": 'CREATE TABLE "a" ("id" INTEGER);\n' });
      await migrate({ url: db.url, migrationsDir: migrationsDir({}) }); // creates _prisma_migrations only
      const insert =
        `INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at, applied_steps_count) ` +
        `VALUES ('00000000-0000-4000-8000-000000000000', 'x', '20260101000000_a', CURRENT_TIMESTAMP, 0)`;
      if (db.provider === "sqlite") {
        const d = new Database(sqlitePath(db.url));
        d.exec(insert);
        d.close();
      } else {
        const c = new pg.Client({ connectionString: db.url });
        await c.connect();
        await c.query(insert);
        await c.end();
      }
      await expect(migrate({ url: db.url, migrationsDir: dir })).rejects.toThrow(/P3009/);
    } finally {
      await db.drop();
    }
  });

  it("two concurrent migrate() calls on a fresh database both succeed and apply each migration once", async () => {
    const db = await fresh();
    try {
      const [x, y] = await Promise.all([migrate({ url: db.url }), migrate({ url: db.url })]);
      const all = [...x.applied, ...y.applied];
      expect(all.length).toBe(x.total);
      expect(new Set(all).size).toBe(all.length);
      const recorded = await rows(db);
      expect(recorded.map((r) => r.migration_name).sort()).toEqual([...all].sort());
      expect(recorded.every((r) => r.finished_at != null && r.applied_steps_count === 1)).toBe(true);
    } finally {
      await db.drop();
    }
  });

  it("four processes starting at once apply the real migrations exactly once", async () => {
    const db = await fresh();
    try {
      const env = { ...process.env, DATABASE_URL: db.url, POLYARCH_DATA_DIR: join(scratch, "data") };
      const outs = await Promise.all(
        [1, 2, 3, 4].map(() => run(process.execPath, [join(__dirname, "migrate.mjs")], { env })),
      );
      expect(outs.filter((o) => /applied 1 migration|applied \d+ migration/.test(o.stdout))).toHaveLength(1);
      const recorded = await rows(db);
      expect(new Set(recorded.map((r) => r.migration_name)).size).toBe(recorded.length);
      expect(recorded.length).toBeGreaterThan(0);
    } finally {
      await db.drop();
    }
  });
});

describe("file modes (SQLite)", () => {
  const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);

  it("migrate on a fresh data dir creates the dir 0700 and the database 0600", async () => {
    const dataDir = join(scratch, "modes-fresh", "data");
    const env: NodeJS.ProcessEnv = { ...process.env, POLYARCH_DATA_DIR: dataDir };
    delete env.DATABASE_URL;
    const out = await run(process.execPath, [join(__dirname, "migrate.mjs")], { env });
    expect(out.stdout).toMatch(/applied \d+ migration/);
    expect(out.stdout).not.toMatch(/warning/);
    expect(mode(dataDir)).toBe("700");
    expect(mode(join(dataDir, "polyarch.db"))).toBe("600");
    for (const side of ["-wal", "-shm", "-journal"]) {
      const f = join(dataDir, `polyarch.db${side}`);
      if (existsSync(f)) expect(mode(f), f).toBe("600");
    }
  });

  it("an existing database open to others is made 0600; an open data dir is reported", async () => {
    const dataDir = join(scratch, "modes-loose");
    mkdirSync(dataDir, { recursive: true });
    chmodSync(dataDir, 0o755);
    const file = join(dataDir, "polyarch.db");
    writeFileSync(file, "");
    chmodSync(file, 0o644);
    const env: NodeJS.ProcessEnv = { ...process.env, POLYARCH_DATA_DIR: dataDir };
    delete env.DATABASE_URL;
    const out = await run(process.execPath, [join(__dirname, "migrate.mjs")], { env });
    expect(mode(file)).toBe("600");
    expect(out.stdout).toContain(`the data dir ${dataDir} is open to other users (mode 755); chmod 700 it`);
    expect(mode(dataDir)).toBe("755"); // the operator's folder is not changed behind their back
  });

  it("the controller creates a missing data dir 0700 and its auth-secret 0600", async () => {
    const { env, resetEnvForTests } = await import("../lib/server/platform/env");
    const keys = ["POLYARCH_DATA_DIR", "BETTER_AUTH_SECRET", "DATABASE_URL"] as const;
    const saved = keys.map((k) => [k, process.env[k]] as const);
    const dataDir = join(scratch, "modes-runtime", "data");
    try {
      process.env.POLYARCH_DATA_DIR = dataDir;
      delete process.env.BETTER_AUTH_SECRET;
      delete process.env.DATABASE_URL;
      resetEnvForTests();
      expect(env().dataDir).toBe(dataDir);
      expect(mode(dataDir)).toBe("700");
      expect(mode(join(dataDir, "auth-secret"))).toBe("600");
    } finally {
      for (const [k, v] of saved) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      resetEnvForTests();
    }
  });
});
