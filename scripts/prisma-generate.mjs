// `npm run db:generate`: writes both schemas from prisma/models.prisma.part, then generates the Prisma
// client for each provider (lib/generated/sqlite, lib/generated/postgres — gitignored), offline.
// Works on a fresh clone after `npm ci`: the CLI's native-engine download is replaced by a stub
// (see scripts/prisma-cli-env.mjs); the generated clients run on driver adapters, not on an engine.
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { join } from "node:path";
import { offlinePrismaEnv } from "./prisma-cli-env.mjs";

const root = new URL("..", import.meta.url).pathname;
const require = createRequire(import.meta.url);
const prismaCli = require.resolve("prisma/build/index.js");
const schemas = ["prisma/schema.prisma", "prisma/postgres/schema.prisma"];

const run = (args) => execFileSync(process.execPath, args, { cwd: root, stdio: "inherit", env: offlinePrismaEnv() });

const started = Date.now();
run([join(root, "scripts/prisma-schemas.mjs")]);
for (const schema of schemas) run([prismaCli, "generate", "--schema", schema]);
console.log(`prisma-generate: both clients generated in ${((Date.now() - started) / 1000).toFixed(1)} s`);
