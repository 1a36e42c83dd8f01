// cachePreparedStatements (db.ts): the SQLite connection Prisma's adapter uses keeps its prepared
// statements, and each use is bound to its own arguments exactly as `prepare(sql).bind(args)` was.
import { describe, expect, it } from "vitest";
import Database from "better-sqlite3";
import { cachePreparedStatements } from "./db";
import { sqliteStatement } from "./raw-driver";

/** A connection counting its prepares: as Prisma's adapter has it (cached), or as rawDriver opens it (plain). */
function connection({ cached = true } = {}) {
  const db = new Database(":memory:");
  if (cached) db.defaultSafeIntegers(true);
  db.exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)`);
  let prepared = 0;
  const prepare = db.prepare.bind(db);
  db.prepare = ((sql: string) => {
    prepared++;
    return prepare(sql);
  }) as typeof db.prepare;
  if (cached) cachePreparedStatements(db as never, 2);
  return { db, prepared: () => prepared };
}

// The adapter's three uses: a write (run), a read (columns + raw().all()), a bare BEGIN.
type Use = {
  bind(args: unknown[]): {
    reader: boolean;
    columns(): { name: string }[];
    raw(): { all(): unknown[][] };
    run(): { changes: number };
  };
} & { run(): unknown };

describe("cachePreparedStatements", () => {
  it("prepares each SQL text once and binds every use to its own arguments", () => {
    const { db, prepared } = connection();
    const p = db.prepare as unknown as (sql: string) => Use;
    for (const [id, name] of [
      [1, "a"],
      [2, "b"],
    ] as const)
      expect(p("INSERT INTO t (id, name) VALUES (?, ?)").bind([id, name]).run().changes).toBe(1);
    const read = (id: number) => {
      const s = p("SELECT id, name FROM t WHERE id = ?").bind([id]);
      expect(s.reader).toBe(true);
      expect(s.columns().map((c) => c.name)).toEqual(["id", "name"]);
      return s.raw().all();
    };
    expect(read(1)).toEqual([[1n, "a"]]);
    expect(read(2)).toEqual([[2n, "b"]]);
    expect(read(3)).toEqual([]);
    expect(prepared()).toBe(2);
  });

  it("runs a bare statement (the adapter's BEGIN) and keeps the most recently used texts", () => {
    const { db, prepared } = connection();
    const p = db.prepare as unknown as (sql: string) => Use;
    const insert = "INSERT INTO t (id, name) VALUES (?, ?)";
    const count = "SELECT count(*) FROM t";
    p("BEGIN").run();
    p(insert).bind([1, "x"]).run(); // 2 prepared: [BEGIN, insert]
    p("COMMIT").bind([]).run(); // 3: BEGIN out, [insert, COMMIT]
    expect(p(count).bind([]).raw().all()).toEqual([[1n]]); // 4: insert out, [COMMIT, count]
    p("COMMIT"); // used again: [count, COMMIT]
    p(insert).bind([2, "y"]).run(); // 5: count out, [COMMIT, insert]
    expect(prepared()).toBe(5);
    p("COMMIT");
    p(insert).bind([3, "z"]).run(); // both kept
    expect(prepared()).toBe(5);
    expect(p(count).bind([]).raw().all()).toEqual([[3n]]);
    expect(prepared()).toBe(6);
  });

  it("a failed statement leaves its kept statement usable", () => {
    const { db } = connection();
    const p = db.prepare as unknown as (sql: string) => Use;
    p("INSERT INTO t (id, name) VALUES (?, ?)").bind([1, "x"]).run();
    expect(() => p("INSERT INTO t (id, name) VALUES (?, ?)").bind([1, "dup"]).run()).toThrow(/UNIQUE/);
    expect(p("INSERT INTO t (id, name) VALUES (?, ?)").bind([2, "ok"]).run().changes).toBe(1);
  });
});

describe("sqliteStatement (raw-driver.ts)", () => {
  it("prepares a SQL text once per connection; another connection gets its own statement", () => {
    const a = connection({ cached: false });
    const b = connection({ cached: false });
    const insert = `INSERT INTO t (id, name) VALUES (?, ?)`;
    const one = sqliteStatement(a.db, insert);
    expect(sqliteStatement(a.db, insert)).toBe(one);
    one.run(1, "a");
    sqliteStatement(a.db, insert).run(2, "b");
    expect(a.prepared()).toBe(1);
    const other = sqliteStatement(b.db, insert);
    expect(other).not.toBe(one);
    other.run(1, "c");
    const names = (conn: Database.Database) => sqliteStatement(conn, `SELECT name FROM t ORDER BY id`).pluck().all();
    expect(names(a.db)).toEqual(["a", "b"]);
    expect(names(b.db)).toEqual(["c"]);
    expect(a.prepared()).toBe(2);
  });
});
