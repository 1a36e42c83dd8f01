// `npm run backup -- --out <file>`: one archive with everything a controller needs to come back —
// the database, the image store and the controller secret — plus a manifest that restore checks.
//
//   DATABASE_URL / POLYARCH_DATA_DIR   the same variables the server reads (see lib/server/platform/env.ts)
//   --out <file>      the archive to write (a tar file; refuses to replace an existing file without --force)
//   --force           replace an existing --out file
//
// The archive (GNU tar, written by the system `tar` from argument arrays):
//   manifest.json            format, version, created, provider, migration level, every part with size + sha256
//   db/polyarch.db           SQLite: a consistent online copy (better-sqlite3's backup API; the server may run)
//   db/polyarch.pgdump       PostgreSQL: `pg_dump --format=custom` (postgresql-client on PATH)
//   config/auth-secret       <data dir>/auth-secret when present (host tokens and sessions derive from it)
//   config/join-token        <data dir>/join-token when present
//   config/pki/…             <data dir>/pki when present (the cluster CA that signed the agents' certificates)
//   images/<id>/<file>       the image store (<data dir>/images)
// Plain Node ESM (no build needed). scripts/restore.mjs imports the shared helpers below.
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import {
  chmod,
  copyFile,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  writeFile,
} from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { z } from "zod";
import { pgConnection, providerOf, redact, resolveDatabaseUrl, sqlitePath } from "./migrate.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));

export const BACKUP_FORMAT = "polyarch-backup";
export const BACKUP_VERSION = 1;
/**
 * Data-dir entries (besides the database and images) a controller cannot lose: the secret that host
 * tokens and sessions derive from, the join token, the cluster CA and controller certificate.
 */
export const CONFIG_ENTRIES = ["auth-secret", "join-token", "pki"];
export const DB_MEMBER = { sqlite: "db/polyarch.db", postgresql: "db/polyarch.pgdump" };

export class BackupError extends Error {
  name = "BackupError";
}

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/);
/** Archive member names: relative, forward slashes, no "." / ".." segments, only the known top folders. */
const memberPath = z
  .string()
  .max(1024)
  .refine(
    (p) => /^(db|config|images)\/[^\0]+$/.test(p) && p.split("/").every((s) => s !== "" && s !== "." && s !== ".."),
    "not a valid archive member path",
  );

export const manifestSchema = z
  .object({
    format: z.literal(BACKUP_FORMAT),
    version: z.literal(BACKUP_VERSION),
    created: z.iso.datetime(),
    polyarchVersion: z.string(),
    provider: z.enum(["sqlite", "postgresql"]),
    migrations: z.object({ applied: z.array(z.string()), latest: z.string().nullable() }),
    database: z.object({ path: memberPath, format: z.enum(["sqlite", "pg_dump-custom"]), tool: z.string().optional() }),
    files: z.array(
      z.object({
        path: memberPath,
        role: z.enum(["database", "config", "image"]),
        size: z.number().int().nonnegative(),
        sha256: sha256Hex,
      }),
    ),
  })
  .strict();

// ------------------------------------------------------------------------------------------ helpers

/** execFile with an argument array; rejects with the tool's stderr. */
export function run(cmd, args, { env, timeoutMs = 0 } = {}) {
  return new Promise((resolvePromise, reject) => {
    execFile(
      cmd,
      args,
      { env: env ?? { ...process.env, LC_ALL: "C" }, maxBuffer: 64 * 1024 * 1024, timeout: timeoutMs },
      (error, stdout, stderr) => {
        if (error) {
          const why = error.code === "ENOENT" ? `${cmd} not found on PATH` : (stderr || error.message).trim();
          reject(
            Object.assign(new BackupError(`${cmd} failed: ${why}`), { code: error.code, stderr: String(stderr ?? "") }),
          );
        } else resolvePromise({ stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

export async function sha256File(file) {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of createReadStream(file)) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { sha256: hash.digest("hex"), size };
}

/** Regular files under dir (relative paths with "/"), sorted; symlinks and other types are refused. */
export async function walkFiles(dir, { allowMissing = true } = {}) {
  const out = [];
  async function walk(sub) {
    let entries;
    try {
      entries = await readdir(join(dir, sub), { withFileTypes: true });
    } catch (error) {
      if (error.code === "ENOENT" && allowMissing && sub === "") return;
      throw error;
    }
    for (const e of entries) {
      const rel = sub ? `${sub}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(rel);
      else if (e.isFile()) out.push(rel);
      else throw new BackupError(`${join(dir, rel)} is not a regular file or directory`);
    }
  }
  await walk("");
  return out.sort();
}

export async function exists(path) {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** libpq connection for pg_dump / pg_restore: no password on the command line (PGPASSWORD instead), no Prisma-only parameters. */
export function libpqTarget(url) {
  const { connectionString, schema } = pgConnection(url);
  const u = new URL(connectionString);
  const password = decodeURIComponent(u.password);
  u.password = "";
  for (const p of [
    "connection_limit",
    "pool_timeout",
    "pgbouncer",
    "statement_cache_size",
    "socket_timeout",
    "sslaccept",
    "sslidentity",
  ])
    u.searchParams.delete(p);
  const env = { ...process.env, LC_ALL: "C", PGAPPNAME: "polyarch-backup" };
  if (password) env.PGPASSWORD = password;
  return { dbname: u.toString(), schema, env, connectionString };
}

export function packageVersion() {
  return readFile(join(root, "package.json"), "utf8").then((t) => JSON.parse(t).version ?? "unknown");
}

export function elapsedSince(t0) {
  return `${((performance.now() - t0) / 1000).toFixed(2)} s`;
}

export function humanBytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

/** Finished, not rolled back migrations, in order. */
function appliedNames(rows) {
  return rows
    .filter((r) => r.finished_at != null && r.rolled_back_at == null)
    .map((r) => r.migration_name)
    .sort();
}

// ------------------------------------------------------------------------------------------ database

async function dumpSqlite(url, dest) {
  const file = sqlitePath(url);
  if (!(await exists(file))) throw new BackupError(`the SQLite database ${file} does not exist`);
  const { default: Database } = await import("better-sqlite3");
  const src = new Database(file, { readonly: true, fileMustExist: true, timeout: 60_000 });
  try {
    // The online backup API copies a consistent snapshot while the server keeps writing.
    await src.backup(dest);
  } finally {
    src.close();
  }
  const copy = new Database(dest, { readonly: true });
  try {
    const ok = copy.pragma("integrity_check", { simple: true });
    if (ok !== "ok") throw new BackupError(`the SQLite copy failed its integrity check: ${ok}`);
    const hasTable = copy
      .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_prisma_migrations'")
      .get();
    return appliedNames(hasTable ? copy.prepare('SELECT * FROM "_prisma_migrations"').all() : []);
  } finally {
    copy.close();
  }
}

async function dumpPostgres(url, dest) {
  const target = libpqTarget(url);
  const { default: pg } = await import("pg");
  const client = new pg.Client({
    connectionString: target.connectionString,
    connectionTimeoutMillis: 15_000,
    application_name: "polyarch-backup",
  });
  client.on("error", () => {});
  await client.connect();
  let applied;
  try {
    await client.query(`SET search_path TO "${target.schema.replace(/"/g, '""')}"`);
    const present = (await client.query("SELECT to_regclass('_prisma_migrations') IS NOT NULL AS present")).rows[0]
      .present;
    applied = appliedNames(present ? (await client.query("SELECT * FROM _prisma_migrations")).rows : []);
  } finally {
    await client.end().catch(() => {});
  }
  const version = (
    await run("pg_dump", ["--version"]).catch(() => {
      throw new BackupError(
        "pg_dump not found on PATH: install the PostgreSQL client tools (Debian: apt-get install postgresql-client)",
      );
    })
  ).stdout.trim();
  const args = ["--format=custom", "--no-password", `--file=${dest}`, `--dbname=${target.dbname}`];
  if (target.schema !== "public") args.push(`--schema=${target.schema}`);
  await run("pg_dump", args, { env: target.env });
  return { applied, tool: version };
}

// ------------------------------------------------------------------------------------------ backup

/**
 * Writes the archive. Returns { file, manifest, bytes, seconds }.
 * Options: out (required), url (DATABASE_URL), dataDir (POLYARCH_DATA_DIR), force, log.
 */
export async function backup({
  out,
  url = resolveDatabaseUrl(),
  dataDir = resolve(process.env.POLYARCH_DATA_DIR || "./data"),
  force = false,
  log = () => {},
}) {
  if (!out) throw new BackupError("--out <file> is required");
  const t0 = performance.now();
  const outFile = resolve(out);
  if (!force && (await exists(outFile)))
    throw new BackupError(`${outFile} already exists (pass --force to replace it)`);
  const provider = providerOf(url);
  await mkdir(dirname(outFile), { recursive: true });
  const staging = await mkdtemp(join(dirname(outFile), ".polyarch-backup-"));
  const partial = join(dirname(outFile), `.${basename(outFile)}.${randomBytes(4).toString("hex")}.partial`);
  try {
    // 1. database
    await mkdir(join(staging, "db"), { recursive: true });
    const dbMember = DB_MEMBER[provider];
    let applied;
    let tool;
    if (provider === "sqlite") applied = await dumpSqlite(url, join(staging, dbMember));
    else ({ applied, tool } = await dumpPostgres(url, join(staging, dbMember)));
    log(`database (${provider} ${redact(url)}): ${applied.length} migrations applied — ${elapsedSince(t0)}`);

    const files = [];
    const add = async (path, role, abs) => files.push({ path, role, ...(await sha256File(abs)) });
    await add(dbMember, "database", join(staging, dbMember));

    // 2. controller secret, join token, PKI (small: copied into the staging dir)
    const config = [];
    for (const name of CONFIG_ENTRIES) {
      const src = join(dataDir, name);
      const st = await lstat(src).catch(() => null);
      if (!st) continue;
      const rels = st.isDirectory() ? (await walkFiles(src)).map((r) => `${name}/${r}`) : st.isFile() ? [name] : [];
      if (!rels.length && !st.isDirectory()) throw new BackupError(`${src} is not a regular file or directory`);
      for (const rel of rels) {
        const dest = join(staging, "config", rel);
        await mkdir(dirname(dest), { recursive: true, mode: 0o700 });
        await copyFile(join(dataDir, rel), dest);
        await chmod(dest, (await stat(join(dataDir, rel))).mode & 0o777);
        await add(`config/${rel}`, "config", dest);
        config.push(`config/${rel}`);
      }
    }

    // 3. image store: hashed in place, then tarred straight from the data dir (no copy); a file that
    //    changes in between (size or mtime) fails the backup rather than writing a lying manifest.
    const imagesRoot = join(dataDir, "images");
    const images = (await walkFiles(imagesRoot)).map((rel) => `images/${rel}`);
    const seen = new Map();
    for (const rel of images) {
      const abs = join(dataDir, rel);
      const before = await stat(abs);
      await add(rel, "image", abs);
      seen.set(rel, before);
    }
    const imageBytes = files.filter((f) => f.role === "image").reduce((n, f) => n + f.size, 0);
    log(`image store: ${images.length} files, ${humanBytes(imageBytes)} hashed — ${elapsedSince(t0)}`);

    // 4. manifest
    const manifest = manifestSchema.parse({
      format: BACKUP_FORMAT,
      version: BACKUP_VERSION,
      created: new Date().toISOString(),
      polyarchVersion: await packageVersion(),
      provider,
      migrations: { applied, latest: applied.at(-1) ?? null },
      database: {
        path: dbMember,
        format: provider === "sqlite" ? "sqlite" : "pg_dump-custom",
        ...(tool ? { tool } : {}),
      },
      files,
    });
    await writeFile(join(staging, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");

    // 5. the archive: staged parts, then the images straight from the data dir, listed explicitly
    const list = join(staging, ".images.list");
    await writeFile(list, images.map((p) => `${p}\0`).join(""));
    await writeFile(partial, "", { mode: 0o600 });
    await run("tar", [
      "--create",
      "--format=gnu",
      `--file=${partial}`,
      "--no-recursion",
      "--numeric-owner",
      `--directory=${staging}`,
      "manifest.json",
      dbMember,
      ...config,
      `--directory=${dataDir}`,
      "--null",
      `--files-from=${list}`,
    ]);
    for (const [rel, before] of seen) {
      const after = await stat(join(dataDir, rel)).catch(() => null);
      if (!after || after.size !== before.size || after.mtimeMs !== before.mtimeMs) {
        throw new BackupError(`${rel} changed while the backup ran; run the backup again`);
      }
    }
    await chmod(partial, 0o600);
    await rename(partial, outFile);
    const bytes = (await stat(outFile)).size;
    log(`wrote ${outFile}: ${humanBytes(bytes)}, ${files.length} parts — ${elapsedSince(t0)}`);
    return { file: outFile, manifest, bytes, seconds: (performance.now() - t0) / 1000 };
  } finally {
    await rm(partial, { force: true });
    await rm(staging, { recursive: true, force: true });
  }
}

async function main() {
  const { values } = parseArgs({
    options: {
      out: { type: "string" },
      force: { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help || !values.out) {
    console.log(
      "usage: npm run backup -- --out <file> [--force]\n  backs up the database (DATABASE_URL), the image store and the controller secret (POLYARCH_DATA_DIR)",
    );
    process.exit(values.help ? 0 : 2);
  }
  const result = await backup({ out: values.out, force: values.force, log: (m) => console.log(`backup: ${m}`) });
  console.log(
    `backup: done — ${result.manifest.provider}, migration ${result.manifest.migrations.latest ?? "none"}, ` +
      `${result.manifest.files.length} parts, ${humanBytes(result.bytes)} in ${result.seconds.toFixed(2)} s`,
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((err) => {
    console.error(`backup: ${err instanceof BackupError ? err.message : err.stack || err}`);
    process.exit(1);
  });
}
