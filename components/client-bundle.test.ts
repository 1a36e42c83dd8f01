// The code the browser loads first for the VM pages (issue 16, bench/first-load-js.ts) must not carry zod or
// lib/schemas' validators: they cost ~30 kB gzip on every page that reaches them. This follows the imports
// from the pages and their layouts into every "use client" module, then every value import of those, and
// fails on zod. Dynamic import() is not followed: it is loaded on demand (components/use-create-checks.ts).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(__dirname, "..");
const PAGES = {
  "/vms": ["app/layout.tsx", "app/(console)/layout.tsx", "app/(console)/vms/page.tsx"],
  "/vms/new": ["app/layout.tsx", "app/(console)/layout.tsx", "app/(console)/vms/new/page.tsx"],
};

function resolveImport(from: string, spec: string): string {
  const base = spec.startsWith("@/")
    ? path.join(ROOT, spec.slice(2))
    : spec.startsWith(".")
      ? path.resolve(path.dirname(from), spec)
      : null;
  if (!base) return `npm:${spec}`;
  for (const ext of ["", ".ts", ".tsx", "/index.ts", "/index.tsx"])
    if (fs.existsSync(base + ext) && fs.statSync(base + ext).isFile()) return base + ext;
  throw new Error(`${path.relative(ROOT, from)}: cannot resolve ${spec}`);
}

/** The module's static value imports (import/export … from; type-only ones are erased by the compiler). */
function valueImports(file: string): { clientOnly: boolean; imports: string[] } {
  const src = ts.createSourceFile(file, fs.readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
  const first = src.statements[0];
  const clientOnly =
    !!first &&
    ts.isExpressionStatement(first) &&
    ts.isStringLiteral(first.expression) &&
    first.expression.text === "use client";
  const imports: string[] = [];
  for (const s of src.statements) {
    if (ts.isImportDeclaration(s)) {
      const c = s.importClause;
      const named = c?.namedBindings && ts.isNamedImports(c.namedBindings) ? c.namedBindings.elements : null;
      const typeOnly = c?.isTypeOnly || (c && !c.name && named && named.length > 0 && named.every((e) => e.isTypeOnly));
      if (!typeOnly) imports.push(resolveImport(file, (s.moduleSpecifier as ts.StringLiteral).text));
    } else if (ts.isExportDeclaration(s) && s.moduleSpecifier && !s.isTypeOnly) {
      imports.push(resolveImport(file, (s.moduleSpecifier as ts.StringLiteral).text));
    }
  }
  return { clientOnly, imports };
}

/** Every module (file or npm:name) the browser gets for these server entries, with one import path to each. */
function clientGraph(entries: string[]): Map<string, string[]> {
  const reached = new Map<string, string[]>();
  const visit = (file: string, chain: string[], client: boolean) => {
    if (file.startsWith("npm:")) {
      if (client && !reached.has(file)) reached.set(file, chain);
      return;
    }
    const { clientOnly, imports } = valueImports(file);
    const isClient = client || clientOnly;
    if (isClient) {
      if (reached.has(file)) return;
      reached.set(file, chain);
    }
    for (const next of imports) {
      // Server modules reach client components only through app/ and components/: lib/ is not followed from them.
      if (!isClient && (next.startsWith("npm:") || next.startsWith(path.join(ROOT, "lib")))) continue;
      visit(next, [...chain, next.startsWith("npm:") ? next : path.relative(ROOT, next)], isClient);
    }
  };
  for (const e of entries) visit(path.resolve(ROOT, e), [e], false);
  return reached;
}

describe("first-load client code of the VM pages", () => {
  for (const [page, entries] of Object.entries(PAGES)) {
    it(`${page} sends no zod to the browser`, () => {
      const graph = clientGraph(entries);
      expect(graph.has(path.join(ROOT, "components/providers.tsx"))).toBe(true);
      const zod = [...graph].filter(([m]) => m === "npm:zod" || m.startsWith("npm:zod/"));
      expect(zod.map(([, chain]) => chain.join(" → "))).toEqual([]);
    });
  }

  it("finds zod behind a client module's value import, not behind type-only or dynamic imports", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "client-bundle-"));
    const sources: Record<string, string> = {
      "page.tsx": `import { Widget } from "./widget";\nimport { z } from "zod";\nexport const q = z.string();\n`,
      "widget.tsx":
        `"use client";\nimport type { T } from "./typed";\nimport { type U, helper } from "./helper";\n` +
        `export const Widget = () => import("./lazy");\n`,
      "typed.ts": `import { z } from "zod";\nexport type T = z.infer<typeof s>;\nconst s = z.string();\n`,
      "helper.ts": `import { z } from "zod";\nexport type U = string;\nexport const helper = z.number();\n`,
      "lazy.ts": `import { z } from "zod";\nexport const lazy = z.boolean();\n`,
    };
    try {
      for (const [name, text] of Object.entries(sources)) fs.writeFileSync(path.join(dir, name), text);
      const graph = clientGraph([path.join(dir, "page.tsx")]);
      // page.tsx's own zod is server code; the widget's helper sends it to the browser.
      expect(graph.get("npm:zod")?.map((m) => path.basename(m))).toEqual([
        "page.tsx",
        "widget.tsx",
        "helper.ts",
        "npm:zod",
      ]);
      const files = [...graph.keys()].map((m) => path.basename(m)).sort();
      expect(files).toEqual(["helper.ts", "npm:zod", "widget.tsx"]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
