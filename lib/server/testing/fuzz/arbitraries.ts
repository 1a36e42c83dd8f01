// fast-check arbitraries for the API fuzz (ADR 039): request bodies derived from the JSON Schema that
// lib/openapi.ts generates from each route's zod schema (the same document clients read), mutated
// into near-misses, plus the hostile strings every name, id and path parameter must survive.
import fc from "fast-check";

type JsonSchema = Record<string, unknown>;

/** Strings that broke parsers, paths and databases elsewhere: traversal, encodings, controls, RTL, emoji, NUL. */
export const HOSTILE_STRINGS = [
  "",
  " ",
  "..",
  "../..",
  "%2e%2e",
  "%2e%2e%2f%2e%2e",
  "..%2f..%2fetc%2fpasswd",
  "/",
  "\\",
  "\u0000",
  "a\u0000b",
  "\u202eevil\u202c",
  "\u200f\u05e9\u05dc\u05d5\u05dd",
  "\ufeff",
  "😀🔥👩‍👩‍👧",
  "\ud800",
  "\r\n\t\u0007\u001b[31m",
  '\'; DROP TABLE "User"; --',
  "{{7*7}}",
  "<script>alert(1)</script>",
  "null",
  "undefined",
  "__proto__",
  "constructor",
  "0",
  "-1",
  "1e309",
  "x".repeat(300),
  "é".repeat(5000),
];

export const hostileString = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...HOSTILE_STRINGS) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme", minLength: 200, maxLength: 600 }) },
);

/** Any JSON value, small: what a confused or malicious client puts where an object was expected. */
export const anyJson: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  hostileString,
  fc.array(fc.oneof(fc.integer(), hostileString), { maxLength: 3 }),
  fc.dictionary(hostileString, fc.oneof(fc.integer(), hostileString), { maxKeys: 3 }),
);

/** Ids the seeded database knows, offered where a schema asks for an id so that fuzzing gets past the 404. */
export type KnownIds = Record<string, string[]>;

function idFor(key: string, known: KnownIds): fc.Arbitrary<string> | null {
  const k = key.toLowerCase();
  const pool =
    Object.entries(known).find(([kind]) => k === `${kind}id` || k === `${kind}ids`)?.[1] ??
    known[k === "id" ? "any" : ""];
  return pool && pool.length ? fc.constantFrom(...pool) : null;
}

function str(s: JsonSchema): fc.Arbitrary<string> {
  const min = typeof s.minLength === "number" ? s.minLength : 0;
  const max = Math.max(min, typeof s.maxLength === "number" ? Math.min(s.maxLength, 80) : 40);
  if (s.format === "email") return fc.emailAddress();
  if (s.format === "uri") return fc.webUrl();
  return fc.string({ minLength: min, maxLength: max });
}

function num(s: JsonSchema, integer: boolean): fc.Arbitrary<number> {
  const min =
    typeof s.minimum === "number" ? s.minimum : typeof s.exclusiveMinimum === "number" ? s.exclusiveMinimum + 1 : -1e6;
  const max =
    typeof s.maximum === "number" ? s.maximum : typeof s.exclusiveMaximum === "number" ? s.exclusiveMaximum - 1 : 1e6;
  const [lo, hi] = [Math.max(min, -1e9), Math.min(max, 1e9)];
  return integer
    ? fc.integer({ min: Math.ceil(lo), max: Math.floor(Math.max(lo, hi)) })
    : fc.double({ min: lo, max: Math.max(lo, hi), noNaN: true });
}

/** A value that fits `schema` (mostly: patterns and refinements are not modelled, so "valid-ish"). */
export function fromSchema(schema: unknown, known: KnownIds = {}, key = "", depth = 0): fc.Arbitrary<unknown> {
  const s = (schema ?? {}) as JsonSchema;
  if (depth > 6) return fc.constant(null);
  if (key) {
    const id = idFor(key, known);
    if (id && (s.type === "string" || s.type === undefined))
      return fc.oneof({ weight: 4, arbitrary: id }, { weight: 1, arbitrary: hostileString });
  }
  if ("const" in s) return fc.constant(s.const);
  if (Array.isArray(s.enum)) return fc.constantFrom(...(s.enum as unknown[]));
  const alts = (s.anyOf ?? s.oneOf) as unknown[] | undefined;
  if (Array.isArray(alts) && alts.length) return fc.oneof(...alts.map((a) => fromSchema(a, known, key, depth + 1)));
  if (Array.isArray(s.allOf) && s.allOf.length) return fromSchema(s.allOf[0], known, key, depth + 1);
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  switch (type) {
    case "string":
      return str(s);
    case "integer":
      return num(s, true);
    case "number":
      return num(s, false);
    case "boolean":
      return fc.boolean();
    case "null":
      return fc.constant(null);
    case "array": {
      const minLength = typeof s.minItems === "number" ? s.minItems : 0;
      const maxLength = Math.max(minLength, Math.min(typeof s.maxItems === "number" ? s.maxItems : 4, 4));
      return fc.array(fromSchema(s.items, known, key, depth + 1), { minLength, maxLength });
    }
    case "object": {
      const props = (s.properties ?? {}) as Record<string, unknown>;
      const required = new Set((s.required ?? []) as string[]);
      const parts = Object.fromEntries(Object.entries(props).map(([k, v]) => [k, fromSchema(v, known, k, depth + 1)]));
      const optional = Object.keys(props).filter((k) => !required.has(k));
      return fc.record(parts, {
        requiredKeys: [...required].filter((k) => k in props) as never[],
        withDeletedKeys: optional.length > 0,
      } as never);
    }
    default:
      return anyJson;
  }
}

/** A near-miss of `valid`: one field replaced by something hostile, dropped, or a stray key added. */
export function mutated(valid: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  return fc
    .tuple(valid, fc.nat(), fc.integer({ min: 0, max: 3 }), anyJson, hostileString)
    .map(([v, pick, how, junk, s]) => {
      if (!v || typeof v !== "object" || Array.isArray(v)) return how === 0 ? junk : s;
      const copy: Record<string, unknown> = { ...(v as Record<string, unknown>) };
      const keys = Object.keys(copy);
      const key = keys.length ? keys[pick % keys.length]! : "name";
      if (how === 0) delete copy[key];
      else if (how === 1) copy[key] = junk;
      else if (how === 2) copy[key] = s;
      else copy[s || "extra"] = junk;
      return copy;
    });
}

/** A raw body that is not the JSON the route expects: broken, empty, over the 1 MiB cap, deeply nested. */
export const malformedBody = fc.oneof(
  fc.constantFrom("", "{", "}", "[", '{"name":', "null", "[]", '"str"', "1", '{"a":1}}', "\u0000", '{"name":"\u0000"}'),
  fc.string({ unit: "binary", maxLength: 200 }),
  fc.constant("[".repeat(20000) + "]".repeat(20000)),
  fc.constant(JSON.stringify({ name: "x".repeat(1024 * 1024 + 10) })),
);

/** Content types a client may send instead of JSON. */
export const contentType = fc.constantFrom(
  "application/json",
  "application/json; charset=utf-8",
  "text/plain;charset=UTF-8",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=x",
  "application/xml",
  "",
  "application/json; charset=utf-16",
);

/** Path parameter values: a known id most of the time, otherwise traversal, encodings, very long, unicode. */
export function pathParam(known: string[]): fc.Arbitrary<string> {
  const hostile = fc.oneof(
    fc.constantFrom(
      "..",
      "%2e%2e",
      "%2E%2E%2F",
      "../../etc/passwd",
      "x".repeat(5000),
      "😀",
      "\u202e",
      "a\u0000b",
      " ",
      "%00",
    ),
    hostileString,
  );
  return known.length
    ? fc.oneof({ weight: 2, arbitrary: fc.constantFrom(...known) }, { weight: 3, arbitrary: hostile })
    : hostile;
}
