// Creates the next migration for BOTH providers from the current schema, with Prisma's own differ.
//
//   node scripts/new-migration.mjs <name>     e.g. add_vm_tags  → prisma/migrations/<ts>_add_vm_tags/migration.sql
//                                                                   prisma/postgres/migrations/<ts>_add_vm_tags/migration.sql
//   node scripts/new-migration.mjs --check [--only sqlite|postgresql]
//                                             exit 2 when the schema has changes no migration covers
//
// How: prisma@6.19.3 (tools/prisma-differ, installed here on first use with `npm ci`) with engine "js"
// runs its WebAssembly schema engine through a driver adapter — no native engine, no download.
// `migrate diff --from-migrations <dir> --to-schema-datamodel <schema> --script` replays the existing
// migrations into a shadow database (SQLite: in memory; PostgreSQL: a temporary database on the local
// test server, see scripts/pg-test-server.sh — started and stopped here when not running) and prints
// the SQL that brings it to the schema. Both providers always get a migration of the same name so the
// two histories stay in step.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { offlinePrismaEnv } from "./prisma-cli-env.mjs";

const root = new URL("..", import.meta.url).pathname;
const differDir = join(root, "tools/prisma-differ");
const differCli = join(differDir, "node_modules/prisma/build/index.js");
const DIFFER_VERSION = "6.19.3";

export const providers = [
  { provider: "sqlite", schema: "prisma/schema.prisma", migrations: "prisma/migrations" },
  { provider: "postgresql", schema: "prisma/postgres/schema.prisma", migrations: "prisma/postgres/migrations" },
];

const EMPTY_MARKER = "-- This is an empty migration.";

function log(msg) {
  process.stderr.write(`new-migration: ${msg}\n`);
}

function ensureDiffer() {
  const pkg = join(differDir, "node_modules/prisma/package.json");
  if (existsSync(pkg) && JSON.parse(readFileSync(pkg, "utf8")).version === DIFFER_VERSION) return;
  log(`installing prisma@${DIFFER_VERSION} into tools/prisma-differ (npm registry only, install scripts not needed)`);
  const hasLock = existsSync(join(differDir, "package-lock.json"));
  execFileSync("npm", [hasLock ? "ci" : "install", "--ignore-scripts", "--no-audit", "--no-fund"], {
    cwd: differDir,
    stdio: ["ignore", "inherit", "inherit"],
  });
}

/** Migration directory names (sorted) under a migrations folder. */
export function listMigrations(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(dir, d.name, "migration.sql")))
    .map((d) => d.name)
    .sort();
}

/** Prisma 6 insists on a datasource url; the js engine ignores it (it uses the adapter). */
function schemaForDiffer(schemaText, provider) {
  const placeholder =
    provider === "sqlite" ? "file:./differ-placeholder.db" : "postgresql://placeholder@127.0.0.1:1/placeholder";
  const out = schemaText.replace(
    /(datasource\s+\w+\s*\{[^}]*?provider\s*=\s*"[^"]+")/,
    `$1\n  url      = "${placeholder}"`,
  );
  if (out === schemaText) throw new Error("could not find the datasource block in the schema");
  return out;
}

function pgServer() {
  if (process.env.POLYARCH_TEST_PG_URL) return { url: process.env.POLYARCH_TEST_PG_URL, stop() {} };
  const script = join(root, "scripts/pg-test-server.sh");
  let wasRunning = true;
  try {
    execFileSync("bash", [script, "status"], { stdio: "ignore" });
  } catch {
    wasRunning = false;
  }
  const url = execFileSync("bash", [script, "start"], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  }).trim();
  return {
    url,
    stop() {
      if (!wasRunning) execFileSync("bash", [script, "stop"], { stdio: ["ignore", "ignore", "inherit"] });
    },
  };
}

function diff({ provider, schema, migrations }, work, pgUrl) {
  const tmpSchema = join(work, `${provider}.prisma`);
  writeFileSync(tmpSchema, schemaForDiffer(readFileSync(join(root, schema), "utf8"), provider));
  const migrationsDir = join(root, migrations);
  const from = listMigrations(migrationsDir).length > 0 ? ["--from-migrations", migrationsDir] : ["--from-empty"];
  const env = {
    ...offlinePrismaEnv(),
    POLYARCH_DIFFER_PROVIDER: provider,
    POLYARCH_DIFFER_URL: provider === "sqlite" ? `file:${join(work, "scratch.db")}` : pgUrl,
  };
  const sql = execFileSync(
    process.execPath,
    [
      differCli,
      "migrate",
      "diff",
      "--config",
      join(differDir, "prisma.config.mjs"),
      ...from,
      "--to-schema-datamodel",
      tmpSchema,
      "--script",
    ],
    { cwd: differDir, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 << 20 },
  );
  return sql.includes(EMPTY_MARKER) || sql.trim() === "" ? null : sql;
}

function timestamp(after) {
  const d = new Date();
  const p = (n) => String(n).padStart(2, "0");
  let ts = `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
  // Keep the order strictly increasing even with a skewed clock or two migrations in one second.
  if (after && ts <= after) ts = String(BigInt(after) + 1n);
  return ts;
}

function lockFile(provider) {
  return `# Please do not edit this file manually\n# It should be added in your version-control system (e.g., Git)\nprovider = "${provider}"\n`;
}

async function main() {
  const args = process.argv.slice(2);
  const check = args.includes("--check");
  const onlyAt = args.indexOf("--only");
  const only = onlyAt >= 0 ? args[onlyAt + 1] : undefined;
  if (only && (!check || !providers.some((p) => p.provider === only))) {
    console.error("--only sqlite|postgresql is for --check (new migrations are always made for both providers)");
    process.exit(64);
  }
  const selected = providers.filter((p) => !only || p.provider === only);
  const name = args.find((a, i) => !a.startsWith("--") && args[i - 1] !== "--only");
  if (!check && !/^[a-z0-9][a-z0-9_]{0,60}$/.test(name ?? "")) {
    console.error(
      "usage: node scripts/new-migration.mjs <name>   (lower_snake_case, e.g. add_vm_tags)\n       node scripts/new-migration.mjs --check",
    );
    process.exit(64);
  }

  // --check changes nothing (it runs inside the test suite); otherwise refresh the generated schemas.
  execFileSync(process.execPath, [join(root, "scripts/prisma-schemas.mjs"), ...(check ? ["--check"] : [])], {
    stdio: "inherit",
  });
  ensureDiffer();

  const names = providers.map((p) => listMigrations(join(root, p.migrations)));
  if (JSON.stringify(names[0]) !== JSON.stringify(names[1])) {
    throw new Error(
      `the two migration histories differ:\n  sqlite:     ${names[0].join(" ")}\n  postgresql: ${names[1].join(" ")}`,
    );
  }

  const work = mkdtempSync(join(tmpdir(), "polyarch-differ-"));
  const pg = selected.some((p) => p.provider === "postgresql") ? pgServer() : { url: "", stop() {} };
  const results = {};
  try {
    for (const p of selected) {
      const t0 = Date.now();
      results[p.provider] = diff(p, work, pg.url);
      log(`${p.provider}: ${results[p.provider] ? "schema changes found" : "no changes"} (${Date.now() - t0} ms)`);
    }
  } finally {
    pg.stop();
    rmSync(work, { recursive: true, force: true });
  }

  const changed = selected.filter((p) => results[p.provider]);
  if (check) {
    if (changed.length) {
      for (const p of changed)
        console.error(`--- ${p.provider}: SQL needed to reach the schema ---\n${results[p.provider]}`);
      console.error(
        `schema and migrations differ for: ${changed.map((p) => p.provider).join(", ")} — run node scripts/new-migration.mjs <name>`,
      );
      process.exit(2);
    }
    console.log("migrations are up to date with the schema");
    return;
  }
  if (!changed.length) {
    console.log("No schema changes: no migration created.");
    return;
  }

  const dirName = `${timestamp(names[0].at(-1)?.slice(0, 14))}_${name}`;
  for (const p of providers) {
    const dir = join(root, p.migrations, dirName);
    mkdirSync(dir, { recursive: true });
    const sql = results[p.provider] ?? `${EMPTY_MARKER} (no ${p.provider}-specific change for ${name})\n`;
    writeFileSync(join(dir, "migration.sql"), sql);
    const lock = join(root, p.migrations, "migration_lock.toml");
    if (!existsSync(lock)) writeFileSync(lock, lockFile(p.provider));
    console.log(`created ${p.migrations}/${dirName}/migration.sql`);
  }
  console.log("Next: review the SQL, then `npm run db:generate` and `npx vitest run prisma/drift.int.test.ts`.");
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    console.error(`new-migration: ${err.stderr ? String(err.stderr) : ""}${err.message ?? err}`);
    process.exit(1);
  });
}
