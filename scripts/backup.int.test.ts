// npm run backup / npm run restore, end to end on real databases (SQLite and, with
// POLYARCH_TEST_PG_URL, PostgreSQL through the real pg_dump / pg_restore): rows and file bytes come
// back exactly; a non-empty target needs --force; a corrupted or truncated archive is refused with
// a clear message and the target is left as it was.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import pg from "pg";
import { freshPostgres, freshSqlite, type TestDatabase } from "../prisma/test-db";
import { MIGRATION_DIRS, readMigrations } from "./migrate.mjs";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../lib/server/testing/server-db";
import { db, resetDbForTests } from "../lib/server/platform";

const repo = fileURLToPath(new URL("..", import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(script: "backup" | "restore", args: string[], target: { url: string; dataDir: string }): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(repo, "scripts", `${script}.mjs`), ...args],
      {
        cwd: repo,
        env: { ...process.env, DATABASE_URL: target.url, POLYARCH_DATA_DIR: target.dataDir },
        timeout: 120_000,
      },
      (error, stdout, stderr) =>
        resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

/** Every row of every table, as comparable JSON (rows sorted). */
async function snapshot(url: string): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  const norm = (row: Record<string, unknown>) =>
    JSON.stringify(row, (_k, v) => (typeof v === "bigint" ? `${v}n` : v instanceof Date ? v.toISOString() : v));
  if (url.startsWith("file:")) {
    const conn = new Database(url.slice("file:".length), { readonly: true });
    try {
      conn.defaultSafeIntegers(true);
      const tables = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .all() as { name: string }[];
      for (const { name } of tables)
        out[name] = (conn.prepare(`SELECT * FROM "${name}"`).all() as Record<string, unknown>[]).map(norm).sort();
    } finally {
      conn.close();
    }
    return out;
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const tables = (
      await client.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
      )
    ).rows as { table_name: string }[];
    for (const { table_name } of tables)
      out[table_name] = (await client.query(`SELECT * FROM "${table_name}"`)).rows.map(norm).sort();
  } finally {
    await client.end();
  }
  return out;
}

/** sha256 of every file under the data dir except the SQLite database itself. */
function files(dataDir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (!/^polyarch\.db/.test(e.name))
        out[relative(dataDir, p)] =
          `${createHash("sha256").update(readFileSync(p)).digest("hex")} ${(statSync(p).mode & 0o777).toString(8)}`;
    }
  };
  if (existsSync(dataDir)) walk(dataDir);
  return out;
}

async function seed(dataDir: string) {
  const admin = await db().user.create({
    data: { id: "u-admin", name: "Admin", email: "admin@backup.test", role: "admin" },
  });
  await db().user.create({
    data: { id: "u-op", name: "Op", email: "op@backup.test", role: "operator", banned: false },
  });
  const hostA = await db().host.create({
    data: {
      name: "node-x86",
      arch: "x86_64",
      status: "online",
      cpuCount: 8,
      memoryMb: 16384,
      diskGb: 200,
      nativeArches: '["x86_64"]',
      facts: '{"cpu":"é ✓ 漢字"}',
    },
  });
  await db().host.create({
    data: { name: "node-arm", arch: "aarch64", cpuCount: 4, memoryMb: 8192, diskGb: 100, cpuAllocationRatio: 2.5 },
  });
  const kernel = randomBytes(600_000);
  const initrd = randomBytes(300_001);
  const image = await db().image.create({
    data: {
      name: "demo",
      family: "demo",
      arch: "x86_64",
      format: "kernel",
      status: "ready",
      sizeBytes: BigInt(kernel.length) + 5_000_000_000n,
      virtualSize: 2n ** 40n,
      kernelPath: "x/kernel",
      initrdPath: "x/initrd",
      ownerId: admin.id,
    },
  });
  const dir = join(dataDir, "images", image.id);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, "kernel"), kernel, { mode: 0o600 });
  writeFileSync(join(dir, "initrd"), initrd, { mode: 0o600 });
  await db().image.update({
    where: { id: image.id },
    data: { kernelPath: `${image.id}/kernel`, initrdPath: `${image.id}/initrd` },
  });
  const network = await db().network.create({
    data: {
      name: "lan",
      vlanId: 100,
      cidr: "10.77.0.0/24",
      gateway: "10.77.0.1",
      poolStart: "10.77.0.2",
      poolEnd: "10.77.0.254",
    },
  });
  for (const [i, name] of ["vm-a", "vm-b"].entries()) {
    const vm = await db().vm.create({
      data: {
        name,
        arch: "x86_64",
        vcpus: 1,
        memoryMb: 256,
        diskGb: 1,
        imageId: image.id,
        hostId: hostA.id,
        status: "running",
        userData: "#cloud-config\n",
      },
    });
    await db().nic.create({
      data: { vmId: vm.id, networkId: network.id, mac: `52:54:00:00:00:0${i}`, ip: `10.77.0.${i + 2}` },
    });
  }
  await db().auditEvent.create({
    data: { action: "vm.create", result: "success", userId: admin.id, details: '{"a":1}' },
  });
  writeFileSync(join(dataDir, "auth-secret"), "secret-" + randomBytes(16).toString("hex"), { mode: 0o600 });
  mkdirSync(join(dataDir, "pki", "ca"), { recursive: true, mode: 0o700 });
  writeFileSync(join(dataDir, "pki", "ca", "key.pem"), "-----BEGIN PRIVATE KEY-----\nnot really\n", { mode: 0o600 });
  writeFileSync(join(dataDir, "pki", "ca", "cert.pem"), "-----BEGIN CERTIFICATE-----\n", { mode: 0o644 });
  return { imageDir: dir };
}

/** Changes rows, files and the schema so that a restore has something to undo. */
async function mutate(url: string, dataDir: string, imageDir: string) {
  await db().nic.deleteMany({});
  await db().vm.deleteMany({ where: { name: "vm-a" } });
  await db().user.update({ where: { id: "u-op" }, data: { role: "viewer", name: "changed" } });
  await db().host.create({ data: { name: "intruder", arch: "x86_64", cpuCount: 1, memoryMb: 512, diskGb: 1 } });
  await resetDbForTests();
  // A table the backup does not know, referencing one it does (PostgreSQL: must not block --clean).
  const ddl = 'CREATE TABLE "extra_newer" ("id" TEXT PRIMARY KEY, "userId" TEXT REFERENCES "user"("id"))';
  if (url.startsWith("file:")) {
    const conn = new Database(url.slice("file:".length));
    conn.exec(ddl);
    conn.close();
  } else {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query(ddl);
    await client.query(`INSERT INTO "extra_newer" VALUES ('e1', 'u-admin')`);
    await client.end();
  }
  writeFileSync(join(imageDir, "kernel"), randomBytes(1000));
  mkdirSync(join(dataDir, "images", "new-image"), { recursive: true });
  writeFileSync(join(dataDir, "images", "new-image", "disk"), "new");
  writeFileSync(join(dataDir, "auth-secret"), "another secret");
  rmSync(join(dataDir, "pki"), { recursive: true });
}

describe.each(PROVIDERS)("backup and restore on %s", (provider) => {
  let database: TestDatabase | undefined;
  let other: TestDatabase | null = null;
  let work: string;
  beforeEach(async () => {
    database = await useFreshDatabase(provider);
    work = mkdtempSync(join(tmpdir(), "polyarch-backup-test-"));
  });
  afterEach(async () => {
    await releaseDatabase(database);
    await other?.drop();
    other = null;
    rmSync(work, { recursive: true, force: true });
    rmSync(process.env.POLYARCH_DATA_DIR!, { recursive: true, force: true });
  });

  const roundTripTitle =
    "round-trips rows, image bytes and the controller secret; --force to replace; " +
    "refuses corrupted and truncated archives without touching the target";
  it(roundTripTitle, async () => {
    const dataDir = process.env.POLYARCH_DATA_DIR!;
    const target = { url: database!.url, dataDir };
    const { imageDir } = await seed(dataDir);
    await resetDbForTests();
    const rows0 = await snapshot(target.url);
    const files0 = files(dataDir);
    expect(rows0.Vm).toHaveLength(2);
    expect(rows0.Nic).toHaveLength(2);
    expect(Object.keys(files0).filter((f) => f.startsWith("images/"))).toHaveLength(2);

    // ---- backup (the database stays open: SQLite's online copy, pg_dump's snapshot)
    const archive = join(work, "out", "polyarch.backup");
    const b = await cli("backup", ["--out", archive], target);
    expect(b.stderr).toBe("");
    expect(b.code).toBe(0);
    expect(b.stdout).toMatch(new RegExp(`backup: done — ${provider}, migration \\d+_\\w+, 6 parts`));
    expect(statSync(archive).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(work, "out"))).toEqual(["polyarch.backup"]); // no staging or partial files left
    const again = await cli("backup", ["--out", archive], target);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("already exists (pass --force to replace it)");

    const manifest = JSON.parse(
      await new Promise<string>((res, rej) =>
        execFile("tar", ["-xOf", archive, "manifest.json"], (e, out) => (e ? rej(e) : res(out))),
      ),
    );
    const local = readMigrations(MIGRATION_DIRS[provider]).map((m) => m.name);
    expect(manifest).toMatchObject({
      format: "polyarch-backup",
      version: 1,
      provider,
      migrations: { applied: local, latest: local.at(-1) },
    });
    expect(
      manifest.files
        .map((f: { path: string; role: string }) => `${f.role}:${f.path.replace(/^images\/[^/]+/, "images/<id>")}`)
        .sort(),
    ).toEqual(
      [
        `database:db/polyarch.${provider === "sqlite" ? "db" : "pgdump"}`,
        "config:config/auth-secret",
        "config:config/pki/ca/cert.pem",
        "config:config/pki/ca/key.pem",
        "image:images/<id>/initrd",
        "image:images/<id>/kernel",
      ].sort(),
    );

    // ---- the target changes after the backup
    await mutate(target.url, dataDir, imageDir);
    const rows1 = await snapshot(target.url);
    const files1 = files(dataDir);
    expect(rows1).not.toEqual(rows0);
    expect(files1).not.toEqual(files0);
    const unchanged = async () => {
      expect(await snapshot(target.url)).toEqual(rows1);
      expect(files(dataDir)).toEqual(files1);
    };

    // ---- not empty: --force is needed
    const refused = await cli("restore", ["--in", archive], target);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /restore: the target is not empty \(.*\)\. Stop the server and pass --force to replace it/,
    );
    await unchanged();

    // ---- SQLite: a process that still has the file open (a running server) blocks the replace
    if (provider === "sqlite") {
      const server = new Database(target.url.slice("file:".length));
      try {
        const busy = await cli("restore", ["--in", archive, "--force"], target);
        expect(busy.code).toBe(1);
        expect(busy.stderr).toContain(`is open in pid ${process.pid} (`);
        expect(busy.stderr).toContain("stop the server before restoring");
      } finally {
        server.close();
      }
      await unchanged();
    }

    // ---- one flipped byte inside an image file: the checksum catches it
    const bytes = readFileSync(archive);
    const initrd = readFileSync(join(imageDir, "initrd"));
    const at = bytes.indexOf(initrd.subarray(1000, 1064));
    expect(at).toBeGreaterThan(0);
    const flipped = Buffer.from(bytes);
    flipped[at + 10] = flipped[at + 10]! ^ 0xff;
    writeFileSync(join(work, "flipped.backup"), flipped);
    const corrupt = await cli("restore", ["--in", join(work, "flipped.backup"), "--force"], target);
    expect(corrupt.code).toBe(1);
    expect(corrupt.stderr).toMatch(/is corrupted: checksum mismatch for images\/[^/]+\/initrd/);
    await unchanged();

    // ---- truncated in the middle, and a manifest that was edited
    writeFileSync(join(work, "truncated.backup"), bytes.subarray(0, Math.floor(bytes.length / 2)));
    const truncated = await cli("restore", ["--in", join(work, "truncated.backup"), "--force"], target);
    expect(truncated.code).toBe(1);
    expect(truncated.stderr).toMatch(/truncated or corrupted\?/);
    await unchanged();
    const m = bytes.indexOf(Buffer.from('"format": "polyarch-backup"'));
    const edited = Buffer.from(bytes);
    edited.write('"format": "polyarch-bachup"', m);
    writeFileSync(join(work, "edited.backup"), edited);
    const bad = await cli("restore", ["--in", join(work, "edited.backup"), "--force"], target);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/the manifest is invalid — format:/);
    await unchanged();
    expect(readdirSync(dataDir).filter((n) => n.startsWith(".restore-"))).toEqual([]);

    // ---- --force: everything as it was at backup time
    const ok = await cli("restore", ["--in", archive, "--force"], target);
    expect(ok.stderr).toBe("");
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/restore: verified 6 parts/);
    expect(await snapshot(target.url)).toEqual(rows0);
    expect(files(dataDir)).toEqual(files0);
    expect(readdirSync(dataDir).filter((n) => n.startsWith(".restore-"))).toEqual([]);
    // The application reads it back through Prisma.
    expect(await db().vm.count()).toBe(2);
    expect((await db().user.findUniqueOrThrow({ where: { id: "u-op" } })).role).toBe("operator");
    expect((await db().image.findFirstOrThrow()).virtualSize).toBe(2n ** 40n);
    await resetDbForTests();

    // ---- into an empty target (a new machine): no --force needed
    other = provider === "sqlite" ? await freshSqlite({ migrated: false }) : await freshPostgres({ migrated: false });
    const emptyDir = join(work, "new-data");
    const fresh = { url: other!.url, dataDir: emptyDir };
    const restored = await cli("restore", ["--in", archive], fresh);
    expect(restored.stderr).toBe("");
    expect(restored.code).toBe(0);
    expect(await snapshot(fresh.url)).toEqual(rows0);
    expect(files(emptyDir)).toEqual(
      Object.fromEntries(Object.entries(files0).filter(([k]) => !k.startsWith("polyarch.db"))),
    );
    expect(statSync(join(emptyDir, "images")).mode & 0o777).toBe(0o700);
    expect(statSync(join(emptyDir, "auth-secret")).mode & 0o777).toBe(0o600);
  });

  it("refuses an archive for the other provider and one that is not a backup", async () => {
    const dataDir = process.env.POLYARCH_DATA_DIR!;
    const target = { url: database!.url, dataDir };
    await seed(dataDir);
    await resetDbForTests();
    const archive = join(work, "a.backup");
    expect((await cli("backup", ["--out", archive], target)).code).toBe(0);

    other = provider === "sqlite" ? await freshPostgres({ migrated: false }) : await freshSqlite({ migrated: false });
    if (other) {
      const wrong = await cli("restore", ["--in", archive], { url: other.url, dataDir: join(work, "x") });
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toContain(
        `the backup holds a ${provider} database but DATABASE_URL points at ${other.provider}`,
      );
    }

    const notTar = join(work, "random.bin");
    writeFileSync(notTar, randomBytes(5000));
    const r1 = await cli("restore", ["--in", notTar], { url: database!.url, dataDir: join(work, "y") });
    expect(r1.code).toBe(1);
    expect(r1.stderr).toMatch(/is not a readable backup archive/);

    // A tar with a path that climbs out, and one with a symlink: listed, refused, never extracted.
    const evil = join(work, "evil");
    mkdirSync(join(evil, "images"), { recursive: true });
    writeFileSync(join(evil, "manifest.json"), "{}");
    writeFileSync(join(evil, "x"), "x");
    await new Promise<void>((res, rej) =>
      execFile("tar", ["-cf", join(work, "climb.tar"), "-C", evil, "manifest.json", "images/../x"], (e) =>
        e ? rej(e) : res(),
      ),
    );
    const r2 = await cli("restore", ["--in", join(work, "climb.tar")], {
      url: database!.url,
      dataDir: join(work, "y"),
    });
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/unexpected member/);
    await new Promise<void>((res, rej) =>
      execFile("ln", ["-s", "/etc", join(evil, "images", "link")], (e) => (e ? rej(e) : res())),
    );
    await new Promise<void>((res, rej) =>
      execFile("tar", ["-cf", join(work, "link.tar"), "-C", evil, "manifest.json", "images/link"], (e) =>
        e ? rej(e) : res(),
      ),
    );
    const r3 = await cli("restore", ["--in", join(work, "link.tar")], { url: database!.url, dataDir: join(work, "y") });
    expect(r3.code).toBe(1);
    expect(r3.stderr).toMatch(/not a regular file or folder/);
    expect(existsSync(join(work, "y", "images"))).toBe(false);
    chmodSync(work, 0o700);
  });
});
