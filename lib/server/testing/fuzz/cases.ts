// One fuzz case = one HTTP request to one route handler, called in-process as Next calls it
// (Request + {params: Promise}); and the rules every answer must keep (ADR 039).
import fc from "fast-check";
import { errorSchema } from "../../../schemas/dto";
import { multipartStream, testBoundary, type TestPart } from "../multipart-body";
import {
  anyJson,
  contentType,
  fromSchema,
  hostileString,
  malformedBody,
  mutated,
  pathParam,
  type KnownIds,
} from "./arbitraries";
import type { Method, RouteFile } from "./routes";

export const ORIGIN = "http://localhost:3000";

type Operation = {
  parameters?: { name: string; in: string; schema?: unknown }[];
  requestBody?: { content?: Record<string, { schema?: unknown }> };
  responses?: Record<string, unknown>;
};
export type OpenApiPaths = Record<string, Record<string, Operation>>;

export type Auth = "bearer" | "cookie" | "none";
export type FuzzCase = {
  kind: string;
  auth: Auth;
  params: Record<string, string>;
  query: Record<string, string>;
  /** a JSON-able value (sent as JSON), a raw string, a multipart body, or nothing */
  body: { json: unknown } | { raw: string } | { multipart: TestPart[]; truncateAfter?: number } | null;
  contentType: string | null;
};

/** Which seeded ids a path parameter may name: the resource folder in front of it. */
function paramPool(route: RouteFile, param: string, known: KnownIds): string[] {
  if (param === "sid") return known.sid ?? [];
  if (param === "volumeId") return known.volume ?? [];
  if (param === "family") return known.family ?? [];
  const folder =
    route.path
      .split("/{" + param + "}")[0]!
      .split("/")
      .at(-1) ?? "";
  const kind = folder.replace(/s$/, "").replace(/-families$/, "family");
  return known[kind] ?? [];
}

const uploadParts = fc.record({
  name: fc.oneof(fc.constant("upload"), hostileString),
  format: fc.constantFrom("kernel", "qcow2", "raw", "iso", "", "\u0000"),
  arch: fc.constantFrom("x86_64", "aarch64", "amd64", "sparc", ""),
  bytes: fc.uint8Array({ maxLength: 2048 }),
  filename: fc.oneof(fc.constant("vmlinuz"), hostileString),
  field: fc.constantFrom("kernel", "file", "disk", "initrd", "x"),
});

function multipartCase(): fc.Arbitrary<FuzzCase["body"]> {
  return fc.tuple(uploadParts, fc.option(fc.nat({ max: 600 }), { nil: undefined })).map(([p, truncateAfter]) => ({
    multipart: [
      { name: "name", value: p.name },
      { name: "format", value: p.format },
      { name: "arch", value: p.arch },
      { name: p.field, data: p.bytes, filename: p.filename },
    ],
    truncateAfter,
  }));
}

/** Every case the fuzz sends to `method` of `route`: from its documented schemas, mutated, malformed. */
export function caseArbitrary(
  route: RouteFile,
  method: Method,
  paths: OpenApiPaths,
  known: KnownIds,
): fc.Arbitrary<FuzzCase> {
  const op = paths[route.path]?.[method.toLowerCase()];
  const bodySchema = op?.requestBody?.content?.["application/json"]?.schema;
  const queryParams = (op?.parameters ?? []).filter((p) => p.in === "query");
  const params = fc.record(Object.fromEntries(route.params.map((p) => [p, pathParam(paramPool(route, p, known))])));
  const query = fc.record(
    Object.fromEntries(
      queryParams.map((p) => [
        p.name,
        fc.oneof(
          fromSchema(p.schema, known, p.name).map((v) => String(v)),
          hostileString,
        ),
      ]),
    ),
    { requiredKeys: [] },
  ) as fc.Arbitrary<Record<string, string>>;
  const auth = fc.constantFrom<Auth>("bearer", "bearer", "bearer", "bearer", "cookie", "none");
  const valid = bodySchema ? fromSchema(bodySchema, known) : anyJson;
  const upload = route.path === "/api/v1/images" && method === "POST";
  const bodies: fc.Arbitrary<[string, FuzzCase["body"], string | null]>[] = [
    valid.map((v) => ["valid", { json: v }, "application/json"]),
    mutated(valid).map((v) => ["mutated", { json: v }, "application/json"]),
    malformedBody.map((raw) => ["malformed", { raw }, "application/json"]),
    fc.tuple(valid, contentType).map(([v, t]) => ["content-type", { json: v }, t || null]),
    fc.constant(["empty", null, null]),
    fc.constant(["huge", { raw: "x".repeat(1024 * 1024 + 1) }, "application/json"]),
  ];
  if (upload)
    bodies.push(
      multipartCase().map((b) => ["multipart", b, null]),
      multipartCase().map((b) => ["multipart", b, null]),
    );
  const body =
    method === "GET"
      ? fc.constant<[string, FuzzCase["body"], string | null]>(["query", null, null])
      : fc.oneof(...bodies);
  return fc.record({ params, query, auth, body }).map(({ params, query, auth, body: [kind, b, type] }) => ({
    kind,
    auth,
    params,
    query,
    body: b,
    contentType: type,
  }));
}

/** The Request a client would send for `c` (Bearer token or the browser's session cookie from the console's own origin). */
export function toRequest(
  route: RouteFile,
  method: Method,
  c: FuzzCase,
  creds: { token: string; cookie: string },
): Request {
  let path = route.path;
  for (const [k, v] of Object.entries(c.params))
    path = path.replace(`{${k}}`, encodeURIComponent(v.replace(/\p{Cs}/gu, "\ufffd"))); // a lone surrogate cannot be sent
  const url = new URL(ORIGIN + path);
  for (const [k, v] of Object.entries(c.query)) url.searchParams.set(k, v);
  const headers = new Headers({ host: "localhost:3000" });
  if (c.auth === "bearer") headers.set("authorization", `Bearer ${creds.token}`);
  if (c.auth === "cookie") {
    headers.set("cookie", creds.cookie);
    headers.set("origin", ORIGIN);
    headers.set("sec-fetch-site", "same-origin");
  }
  let body: BodyInit | undefined;
  if (c.body && "multipart" in c.body) {
    const boundary = testBoundary();
    headers.set("content-type", `multipart/form-data; boundary=${boundary}`);
    body = multipartStream(c.body.multipart, boundary, { truncateAfter: c.body.truncateAfter });
  } else if (c.body) {
    body = "json" in c.body ? (JSON.stringify(c.body.json) ?? "null") : c.body.raw;
    if (c.contentType) headers.set("content-type", c.contentType);
  }
  return new Request(url, { method, headers, body, duplex: "half" } as RequestInit & { duplex: "half" });
}

/**
 * The one status ≥ 500 a route may answer, and only where its OpenAPI entry documents it: 503 from
 * "the host's agent is not reachable or answered unexpectedly". The stand-in agent speaks only the VM
 * power protocol, so volume and snapshot calls that reach it get an answer the controller rejects (503).
 */
export const ALLOWED_5XX = [503] as const;

/** What is wrong with an answer, or null: ≥ 500 (unless listed above), or a non-2xx not shaped {error:{code,message}}. */
export function answerProblem(status: number, text: string, documented: string[]): string | null {
  const allowed = (ALLOWED_5XX as readonly number[]).includes(status) && documented.includes(String(status));
  if (status >= 500 && !allowed) return `answered ${status}: ${text.slice(0, 300)}`;
  if (status >= 200 && status < 300) return null;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return `answered ${status} with a body that is not JSON: ${text.slice(0, 200)}`;
  }
  return errorSchema.safeParse(json).success
    ? null
    : `answered ${status} without the error shape: ${text.slice(0, 200)}`;
}
