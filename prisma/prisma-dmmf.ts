// Loads the full Prisma DMMF of a schema file, offline: runs the app's Prisma CLI `generate` on a temp
// copy whose only generator is scripts/prisma-dmmf-generator.mjs (which writes dmmf.json). ~1.3 s.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { offlinePrismaEnv } from "../scripts/prisma-cli-env.mjs";

export const repoRoot = fileURLToPath(new URL("..", import.meta.url));

export interface DmmfField {
  name: string;
  dbName?: string | null;
  kind: "scalar" | "object" | "enum" | "unsupported";
  isList: boolean;
  isRequired: boolean;
  isUnique: boolean;
  isId: boolean;
  isUpdatedAt: boolean;
  hasDefaultValue: boolean;
  default?: unknown;
  type: string;
  nativeType?: [string, string[]] | null;
  relationFromFields?: string[];
  relationToFields?: string[];
  relationOnDelete?: string;
  relationOnUpdate?: string;
}
export interface DmmfModel {
  name: string;
  dbName: string | null;
  fields: DmmfField[];
  primaryKey: { name: string | null; fields: string[] } | null;
  uniqueIndexes: { name: string | null; fields: string[] }[];
}
export interface DmmfIndex {
  model: string;
  type: "id" | "unique" | "normal" | "fulltext";
  isDefinedOnField: boolean;
  dbName?: string;
  name?: string;
  fields: { name: string }[];
}
export interface Dmmf {
  datamodel: { models: DmmfModel[]; enums: unknown[]; indexes: DmmfIndex[] };
}

export function loadDmmf(schemaPath: string): Dmmf {
  const work = mkdtempSync(join(tmpdir(), "polyarch-dmmf-"));
  try {
    const generator = join(repoRoot, "scripts/prisma-dmmf-generator.mjs");
    if (generator.includes("'")) throw new Error(`unsupported path (contains a quote): ${generator}`);
    const schema = readFileSync(schemaPath, "utf8").replace(/^generator\s+\w+\s*\{[^}]*\}/gm, "");
    writeFileSync(
      join(work, "schema.prisma"),
      `${schema}\ngenerator dmmf {\n  provider = "node '${generator}'"\n  output   = "${join(work, "out")}"\n}\n`,
    );
    const cli = createRequire(import.meta.url).resolve("prisma/build/index.js");
    execFileSync(process.execPath, [cli, "generate", "--schema", join(work, "schema.prisma")], {
      cwd: repoRoot,
      env: offlinePrismaEnv(),
      stdio: ["ignore", "pipe", "pipe"],
    });
    return JSON.parse(readFileSync(join(work, "out", "dmmf.json"), "utf8")) as Dmmf;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
