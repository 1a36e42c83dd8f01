// Enumerates what the fuzz must cover, from the file system, so a new route or server action is fuzzed
// (or fails the coverage check) without anyone remembering to add it: every app/api/v1/**/route.ts with
// each exported HTTP method, and every app/**/actions.ts export.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";

export const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"] as const;
export type Method = (typeof METHODS)[number];

export type RouteFile = {
  /** "app/api/v1/vms/[id]/route.ts" */
  file: string;
  abs: string;
  /** the OpenAPI path: "/api/v1/vms/{id}" */
  path: string;
  /** "[id]" folder names in order */
  params: string[];
};

export function routeFiles(root: string): RouteFile[] {
  const dir = join(root, "app/api/v1");
  return (readdirSync(dir, { recursive: true }) as string[])
    .filter((f) => f.split(sep).at(-1) === "route.ts")
    .sort()
    .map((f) => {
      const segments = dirname(f)
        .split(sep)
        .filter((s) => s !== ".");
      const params = segments.filter((s) => /^\[\w+\]$/.test(s)).map((s) => s.slice(1, -1));
      const path = ("/api/v1/" + segments.map((s) => s.replace(/^\[(\w+)\]$/, "{$1}")).join("/")).replace(/\/$/, "");
      return { file: relative(root, join(dir, f)), abs: join(dir, f), path, params };
    });
}

export type ActionFile = { file: string; abs: string; source: string };

/** Every actions.ts under app/ (server actions are built by defineAction, lib/server/web/action.ts). */
export function actionFiles(root: string): ActionFile[] {
  const dir = join(root, "app");
  return (readdirSync(dir, { recursive: true }) as string[])
    .filter((f) => f.split(sep).at(-1) === "actions.ts")
    .sort()
    .map((f) => ({
      file: relative(root, join(dir, f)),
      abs: join(dir, f),
      source: readFileSync(join(dir, f), "utf8"),
    }));
}

/**
 * The schema identifier an exported action passes to defineAction, read from its source (the
 * wrapper keeps the schema private), and the module it is imported from: enough to fuzz the action
 * with inputs derived from its own schema. null when the schema is written inline or built by a helper.
 */
export function actionSchemaRef(source: string, exportName: string): { name: string; module: string } | null {
  const at = source.indexOf(`export const ${exportName} = defineAction(`);
  if (at < 0) return null;
  const m = /schema:\s*([A-Za-z_]\w*)\s*[,}\n]/.exec(source.slice(at, at + 400));
  if (!m) return null;
  const name = m[1]!;
  const imp = new RegExp(`import\\s*{[^}]*\\b${name}\\b[^}]*}\\s*from\\s*"([^"]+)"`).exec(source);
  return imp ? { name, module: imp[1]! } : null;
}
