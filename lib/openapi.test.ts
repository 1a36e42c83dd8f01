// The document itself: well-formed JSON Schema 2020-12 throughout, every $ref resolves, every
// response object is closed. (app/api/v1/openapi.int.test.ts checks the real answers against it.)
import { describe, expect, it } from "vitest";
import { Ajv2020 } from "ajv/dist/2020";
import addFormats from "ajv-formats";
import { buildOpenApi, RESPONSE_SCHEMAS } from "./openapi";

const doc = buildOpenApi("http://localhost");

function walk(node: unknown, visit: (n: Record<string, unknown>, path: string) => void, path = "#") {
  if (Array.isArray(node)) node.forEach((n, i) => walk(n, visit, `${path}/${i}`));
  else if (node && typeof node === "object") {
    visit(node as Record<string, unknown>, path);
    for (const [k, v] of Object.entries(node)) walk(v, visit, `${path}/${k}`);
  }
}

describe("the OpenAPI document", () => {
  it("is OpenAPI 3.1 with a component for every response schema", () => {
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.components.schemas).sort()).toEqual(Object.keys(RESPONSE_SCHEMAS).sort());
  });

  it("every $ref points at a component that exists", () => {
    const refs: string[] = [];
    walk(doc, (n) => {
      if (typeof n.$ref === "string") refs.push(n.$ref);
    });
    expect(refs.length).toBeGreaterThan(50);
    for (const ref of refs) {
      expect(ref).toMatch(/^#\/components\/schemas\//);
      expect(doc.components.schemas, ref).toHaveProperty(ref.replace("#/components/schemas/", ""));
    }
  });

  it("every component compiles as strict JSON Schema 2020-12", () => {
    const ajv = new Ajv2020({ strict: true, strictTypes: false });
    addFormats(ajv);
    const defs = JSON.parse(JSON.stringify(doc.components.schemas).replaceAll('"#/components/schemas/', '"#/$defs/'));
    for (const name of Object.keys(defs))
      expect(() => ajv.compile({ $ref: `#/$defs/${name}`, $defs: defs }), name).not.toThrow();
  });

  it("response objects are closed: a field the document lacks is an error, not a silent extra", () => {
    const open: string[] = [];
    for (const [name, schema] of Object.entries(doc.components.schemas)) {
      if (name === "OpenApiDocument") continue; // the document describes itself loosely on purpose
      walk(schema, (n, path) => {
        if (n.type === "object" && n.properties && n.additionalProperties !== false) open.push(`${name} ${path}`);
      });
    }
    expect(open).toEqual([]);
  });

  it("every operation answers a described success and JSON errors; path parameters match the path", () => {
    for (const [path, item] of Object.entries(
      doc.paths as Record<
        string,
        Record<
          string,
          { responses: Record<string, { description?: string }>; parameters?: { name: string; in: string }[] }
        >
      >,
    )) {
      const placeholders = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      for (const [method, op] of Object.entries(item)) {
        const success = Object.keys(op.responses).filter((s) => s.startsWith("2"));
        expect(success, `${method} ${path}`).toHaveLength(1);
        expect(op.responses[success[0]!]!.description, `${method} ${path}`).toBeTruthy();
        expect(
          (op.parameters ?? []).filter((p) => p.in === "path").map((p) => p.name),
          `${method} ${path}`,
        ).toEqual(placeholders);
      }
    }
  });

  it("documents timestamps as date-time strings and every VM field the server sends", () => {
    const vm = doc.components.schemas.Vm as { properties: Record<string, { format?: string }>; required: string[] };
    expect(vm.properties.createdAt?.format).toBe("date-time");
    expect(vm.required).toEqual(expect.arrayContaining(["display", "desiredState", "allowEmulation", "updatedAt"]));
  });
});
