// `npm run restore -- --in <file> [--force]`: puts a scripts/backup.mjs archive back.
//
//   DATABASE_URL / POLYARCH_DATA_DIR   the target, the same variables the server reads
//   --in <file>     the archive
//   --force         replace a target that is not empty (existing database, images or secret)
//
// Order: everything is checked before anything changes — the archive's member list (only regular
// files and folders under manifest.json, db/, config/, images/), extraction into a private staging
// folder, the manifest (zod), every part's size and sha256, nothing missing and nothing extra, the
// provider, the migration level (a backup from a newer Polyarch is refused), the SQLite copy's
// integrity check, an empty target or --force. Only then:
//   SQLite      the database file is replaced (stop the server first); stale -wal/-shm files go too
//   PostgreSQL  pg_restore --clean --if-exists --single-transaction (stop the server first); tables
//               the dump does not know (from newer migrations) are dropped first
//   files       the image store and config files are swapped in; what they replace is kept until the
//               swap succeeded and put back when it fails
// then pending migrations of this checkout are applied (scripts/migrate.mjs). A SQLite file that
// another process still has open (found through /proc) is refused: stop the server first.
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, readlink, rename, rm, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import {
  BackupError,
  CONFIG_ENTRIES,
  elapsedSince,
  exists,
  humanBytes,
  libpqTarget,
  manifestSchema,
  run,
  sha256File,
  walkFiles,
} from "./backup.mjs";
import {
  migrate,
  MIGRATION_DIRS,
  providerOf,
  readMigrations,
  redact,
  resolveDatabaseUrl,
  sqlitePath,
} from "./migrate.mjs";

const TOP = /^(manifest\.json|(db|config|images)(\/.*)?)$/;

/** Lists the archive without extracting: every member must be a regular file or a folder with a sane name. */
async function checkMembers(archive) {
  let names;
  let long;
  try {
    names = (await run("tar", ["--list", `--file=${archive}`])).stdout.split("\n").filter(Boolean);
    long = (await run("tar", ["--list", "--verbose", `--file=${archive}`])).stdout.split("\n").filter(Boolean);
  } catch (error) {
    throw new BackupError(
      `${archive} is not a readable backup archive (truncated or corrupted?): ${error.stderr?.trim() || error.message}`,
    );
  }
  if (!names.length) throw new BackupError(`${archive} is empty`);
  for (const line of long) {
    if (line[0] !== "-" && line[0] !== "d")
      throw new BackupError(`${archive} holds a member that is not a regular file or folder: ${line}`);
  }
  for (const raw of names) {
    const name = raw.replace(/\/$/, "");
    if (!TOP.test(name) || name.split("/").some((s) => s === ".." || s === "." || s === "")) {
      throw new BackupError(`${archive} holds an unexpected member: ${JSON.stringify(raw)}`);
    }
  }
  if (!names.includes("manifest.json")) throw new BackupError(`${archive} has no manifest.json: not a Polyarch backup`);
}

/** Extracts and verifies into `staging`. Returns the manifest. Changes nothing outside staging. */
export async function verifyArchive(archive, staging) {
  const file = resolve(archive);
  if (!(await exists(file))) throw new BackupError(`${file} does not exist`);
  await checkMembers(file);
  try {
    await run("tar", [
      "--extract",
      `--file=${file}`,
      `--directory=${staging}`,
      "--no-same-owner",
      "--no-overwrite-dir",
      "--delay-directory-restore",
    ]);
  } catch (error) {
    throw new BackupError(
      `${file} could not be extracted (truncated or corrupted?): ${error.stderr?.trim() || error.message}`,
    );
  }
  let manifest;
  try {
    manifest = manifestSchema.parse(JSON.parse(await readFile(join(staging, "manifest.json"), "utf8")));
  } catch (error) {
    const why = error?.issues
      ? error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ")
      : error.message;
    throw new BackupError(`${file}: the manifest is invalid — ${why}`);
  }
  const listed = new Map(manifest.files.map((f) => [f.path, f]));
  if (listed.size !== manifest.files.length) throw new BackupError(`${file}: the manifest lists a part twice`);
  if (!listed.has(manifest.database.path) || listed.get(manifest.database.path).role !== "database") {
    throw new BackupError(`${file}: the manifest does not list the database part ${manifest.database.path}`);
  }
  const present = (await walkFiles(staging)).filter((p) => p !== "manifest.json");
  const extra = present.filter((p) => !listed.has(p));
  if (extra.length)
    throw new BackupError(
      `${file} is corrupted: ${extra.length} part(s) not in the manifest (${extra.slice(0, 3).join(", ")})`,
    );
  for (const part of manifest.files) {
    const path = join(staging, part.path);
    if (!(await exists(path))) throw new BackupError(`${file} is corrupted: ${part.path} is missing`);
    const got = await sha256File(path);
    if (got.size !== part.size)
      throw new BackupError(`${file} is corrupted: ${part.path} has ${got.size} bytes, the manifest says ${part.size}`);
    if (got.sha256 !== part.sha256)
      throw new BackupError(
        `${file} is corrupted: checksum mismatch for ${part.path} (sha256 ${got.sha256.slice(0, 12)}…, the manifest says ${part.sha256.slice(0, 12)}…)`,
      );
  }
  return manifest;
}

/** What the target already holds (empty list = empty target). */
async function targetContents({ provider, url, dataDir }) {
  const found = [];
  if (provider === "sqlite") {
    const f = sqlitePath(url);
    const s = await stat(f).catch(() => null);
    if (s && s.size > 0) found.push(`the database ${f}`);
  } else {
    const { default: pg } = await import("pg");
    const t = libpqTarget(url);
    const client = new pg.Client({ connectionString: t.connectionString, connectionTimeoutMillis: 15_000 });
    client.on("error", () => {});
    await client.connect();
    try {
      const n = Number(
        (await client.query("SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = $1", [t.schema]))
          .rows[0].n,
      );
      if (n > 0) found.push(`${n} table(s) in ${redact(url)}`);
    } finally {
      await client.end().catch(() => {});
    }
  }
  const images = await walkFiles(join(dataDir, "images")).catch(() => []);
  if (images.length) found.push(`${images.length} image file(s) in ${join(dataDir, "images")}`);
  for (const name of CONFIG_ENTRIES) if (await exists(join(dataDir, name))) found.push(join(dataDir, name));
  return found;
}

/** Other processes that have `file` (or its -wal/-shm) open, from /proc (Linux; best effort without root). */
async function processesWithOpen(file) {
  const wanted = new Set([file, `${file}-wal`, `${file}-shm`]);
  const found = [];
  const pids = (await readdir("/proc").catch(() => [])).filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid);
  for (const pid of pids) {
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => []);
    for (const fd of fds) {
      const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => "");
      if (wanted.has(target)) {
        const cmd = (await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => ""))
          .split("\0")
          .join(" ")
          .trim()
          .slice(0, 120);
        found.push(`pid ${pid} (${cmd})`);
        break;
      }
    }
  }
  return found;
}

async function move(from, to) {
  await mkdir(dirname(to), { recursive: true });
  try {
    await rename(from, to);
  } catch (error) {
    if (error.code !== "EXDEV") throw error;
    await cp(from, to, { recursive: true, preserveTimestamps: true, errorOnExist: true, force: false });
    await rm(from, { recursive: true, force: true });
  }
}

/** Swaps staged paths into place; on failure puts back what was moved aside. pairs: [{ from, to }] */
async function swapIn(pairs, asideDir) {
  const done = [];
  try {
    for (const [i, { from, to }] of pairs.entries()) {
      const aside = join(asideDir, String(i));
      const had = await exists(to);
      if (had) await move(to, aside);
      done.push({ to, aside: had ? aside : null, placed: false });
      if (from) {
        await move(from, to);
        done.at(-1).placed = true;
      }
    }
  } catch (error) {
    for (const d of done.reverse()) {
      if (d.placed) await rm(d.to, { recursive: true, force: true }).catch(() => {});
      if (d.aside) await move(d.aside, d.to).catch(() => {});
    }
    throw new BackupError(`restoring the files failed and was undone: ${error.message}`);
  }
}

async function restorePostgres(url, dumpFile) {
  const t = libpqTarget(url);
  // Tables this database has but the dump does not (a newer migration's): dropped first, otherwise
  // pg_restore --clean cannot drop the tables they reference and migrate would find them in the way.
  const toc = (
    await run("pg_restore", ["--list", dumpFile], { env: t.env }).catch((e) => {
      throw new BackupError(
        e.code === "ENOENT"
          ? "pg_restore not found on PATH: install the PostgreSQL client tools (Debian: apt-get install postgresql-client)"
          : e.message,
      );
    })
  ).stdout;
  const dumped = new Set();
  for (const line of toc.split("\n")) {
    const m = /^\d+; \d+ \d+ TABLE (\S+) (\S+) /.exec(line);
    if (m && m[1] === t.schema) dumped.add(m[2]);
  }
  const { default: pg } = await import("pg");
  const client = new pg.Client({ connectionString: t.connectionString, connectionTimeoutMillis: 15_000 });
  client.on("error", () => {});
  await client.connect();
  try {
    const tables = (
      await client.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE'",
        [t.schema],
      )
    ).rows.map((r) => r.table_name);
    const extra = tables.filter((n) => !dumped.has(n));
    if (extra.length) {
      const ident = (s) => `"${s.replace(/"/g, '""')}"`;
      await client.query(
        `DROP TABLE IF EXISTS ${extra.map((n) => `${ident(t.schema)}.${ident(n)}`).join(", ")} CASCADE`,
      );
    }
  } finally {
    await client.end().catch(() => {});
  }
  await run(
    "pg_restore",
    [
      "--clean",
      "--if-exists",
      "--no-owner",
      "--no-privileges",
      "--single-transaction",
      "--exit-on-error",
      "--no-password",
      `--dbname=${t.dbname}`,
      dumpFile,
    ],
    { env: t.env },
  );
}

/**
 * Restores `input` into the target. Returns { manifest, migrated, seconds }.
 * Options: input (required), url (DATABASE_URL), dataDir (POLYARCH_DATA_DIR), force, log.
 */
export async function restore({
  input,
  url = resolveDatabaseUrl(),
  dataDir = resolve(process.env.POLYARCH_DATA_DIR || "./data"),
  force = false,
  log = () => {},
}) {
  if (!input) throw new BackupError("--in <file> is required");
  const t0 = performance.now();
  const provider = providerOf(url);
  const target = resolve(dataDir);
  await mkdir(target, { recursive: true, mode: 0o700 });
  // Staging sits in the data dir: same filesystem, so the swap is a rename.
  const staging = await mkdtemp(join(target, ".restore-"));
  try {
    const extracted = join(staging, "archive");
    await mkdir(extracted);
    const manifest = await verifyArchive(input, extracted);
    log(
      `verified ${manifest.files.length} parts (${humanBytes(manifest.files.reduce((n, f) => n + f.size, 0))}) ` +
        `of a ${manifest.provider} backup from ${manifest.created} — ${elapsedSince(t0)}`,
    );

    if (manifest.provider !== provider) {
      throw new BackupError(
        `the backup holds a ${manifest.provider} database but DATABASE_URL points at ${provider}; restore into a ${manifest.provider} target`,
      );
    }
    const local = new Set(readMigrations(MIGRATION_DIRS[provider]).map((m) => m.name));
    const unknown = manifest.migrations.applied.filter((n) => !local.has(n));
    if (unknown.length) {
      throw new BackupError(
        `the backup was made by a newer Polyarch (migration ${unknown.join(", ")} is unknown here): update this checkout first`,
      );
    }
    const dbStaged = join(extracted, manifest.database.path);
    if (provider === "sqlite") {
      const { default: Database } = await import("better-sqlite3");
      const copy = new Database(dbStaged, { readonly: true, fileMustExist: true });
      try {
        const ok = copy.pragma("integrity_check", { simple: true });
        if (ok !== "ok") throw new BackupError(`the database in the backup fails SQLite's integrity check: ${ok}`);
      } finally {
        copy.close();
      }
    }

    if (provider === "sqlite") {
      const holders = await processesWithOpen(sqlitePath(url));
      if (holders.length)
        throw new BackupError(`${sqlitePath(url)} is open in ${holders.join(", ")}: stop the server before restoring`);
    }
    const existing = await targetContents({ provider, url, dataDir: target });
    if (existing.length && !force) {
      throw new BackupError(
        `the target is not empty (${existing.join("; ")}). Stop the server and pass --force to replace it`,
      );
    }

    // ---- from here on the target changes ----
    const aside = join(staging, "aside");
    await mkdir(aside);
    const pairs = [];
    if (provider === "sqlite") {
      const file = sqlitePath(url);
      // The old file's WAL / shared memory / journal must not survive next to the new file.
      for (const suffix of ["-wal", "-shm", "-journal"]) pairs.push({ from: null, to: file + suffix });
      pairs.push({ from: dbStaged, to: file });
    } else {
      await restorePostgres(url, dbStaged);
      log(`pg_restore done — ${elapsedSince(t0)}`);
    }
    const imagesStaged = join(extracted, "images");
    pairs.push({ from: (await exists(imagesStaged)) ? imagesStaged : null, to: join(target, "images") });
    for (const name of CONFIG_ENTRIES) {
      const staged = join(extracted, "config", name);
      pairs.push({ from: (await exists(staged)) ? staged : null, to: join(target, name) });
    }
    await swapIn(pairs, aside);
    for (const dir of ["images", "pki"]) if (await exists(join(target, dir))) await chmod(join(target, dir), 0o700);
    log(`database and files in place — ${elapsedSince(t0)}`);

    const migrated = await migrate({ url, log: (m) => log(`migrate: ${m}`) });
    log(
      `restored ${manifest.provider} backup (migration ${manifest.migrations.latest ?? "none"}` +
        (migrated.applied.length ? `, then applied ${migrated.applied.length} newer migration(s)` : "") +
        `) — ${elapsedSince(t0)}`,
    );
    return { manifest, migrated: migrated.applied, seconds: (performance.now() - t0) / 1000 };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

async function main() {
  const { values } = parseArgs({
    options: {
      in: { type: "string" },
      force: { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help || !values.in) {
    console.log(
      "usage: npm run restore -- --in <file> [--force]\n  restores a backup into DATABASE_URL and POLYARCH_DATA_DIR; stop the server first",
    );
    process.exit(values.help ? 0 : 2);
  }
  const result = await restore({ input: values.in, force: values.force, log: (m) => console.log(`restore: ${m}`) });
  console.log(`restore: done in ${result.seconds.toFixed(2)} s`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((err) => {
    console.error(`restore: ${err instanceof BackupError ? err.message : err.stack || err}`);
    process.exit(1);
  });
}
