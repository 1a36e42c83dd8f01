// Writes prisma/schema.prisma (SQLite) and prisma/postgres/schema.prisma from one models file,
// so the two providers can never have different models. `--check` fails when they are stale.
import { readFileSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const models = readFileSync(join(root, "prisma/models.prisma.part"), "utf8");
const targets = [
  ["prisma/header.sqlite.prisma", "prisma/schema.prisma"],
  ["prisma/header.postgres.prisma", "prisma/postgres/schema.prisma"],
];
const check = process.argv.includes("--check");
let stale = false;
for (const [header, out] of targets) {
  const text = readFileSync(join(root, header), "utf8") + models;
  const path = join(root, out);
  const current = existsSync(path) ? readFileSync(path, "utf8") : "";
  if (current === text) continue;
  if (check) {
    stale = true;
    console.error(`${out} is stale: run node scripts/prisma-schemas.mjs`);
  } else writeFileSync(path, text);
}
if (stale) process.exit(1);
