// Property-based fuzz of every /api/v1 route handler and every server action (ADR 039), in-process
// against a fresh SQLite database, a real Bearer token and a real better-auth session, and a stand-in
// agent on 127.0.0.1. Inputs come from the route's documented zod schema (via lib/openapi.ts), mutated,
// malformed, with wrong content types, empty and over-limit bodies, truncated multipart uploads and
// hostile strings in ids and names. Every answer: < 500, non-2xx in the {error:{code,message}} shape, and
// a refused (4xx) request leaves the database as it was. Seeds are fixed per target (printed on failure:
// replay with FUZZ_SEED); bench/fuzz.ts reruns this with FUZZ_RUNS and rotating seeds.
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import fc from "fast-check";
import { z } from "zod";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { releaseDatabase, useFreshDatabase } from "@/lib/server/testing/server-db";
import type { TestDatabase } from "@/prisma/test-db";
import { buildOpenApi } from "@/lib/openapi";
import { POST as authPost } from "@/app/api/auth/[...all]/route";
import { fromSchema, mutated, anyJson, hostileString } from "@/lib/server/testing/fuzz/arbitraries";
import {
  actionFiles,
  actionSchemaRef,
  METHODS,
  routeFiles,
  type Method,
  type RouteFile,
} from "@/lib/server/testing/fuzz/routes";
import { fingerprint, fingerprintDiff, type Fingerprint } from "@/lib/server/testing/fuzz/fingerprint";
import { answerProblem, caseArbitrary, ORIGIN, toRequest, type OpenApiPaths } from "@/lib/server/testing/fuzz/cases";
import { seedFuzzWorld, settleTasks, startStubAgent, type FuzzWorld } from "@/lib/server/testing/fuzz/world";

// The request a server action runs in (as app/(console)/vms/actions.int.test.ts): who is calling.
const request = vi.hoisted(() => ({ headers: new Headers() }));
vi.mock("next/headers", () => ({ headers: async () => request.headers }));
vi.mock("next/cache", () => ({ revalidatePath: () => undefined }));
vi.mock("next/navigation", async (original) => ({
  ...(await original<typeof import("next/navigation")>()),
  unauthorized: () => {
    throw new Error("NEXT_UNAUTHORIZED");
  },
  forbidden: () => {
    throw new Error("NEXT_FORBIDDEN");
  },
}));

const ROOT = process.cwd();
const RUNS = Number(process.env.FUZZ_RUNS ?? 30);
/** Fixed per target in `npm test`; bench/fuzz.ts passes a new FUZZ_SEED each run to rotate them. */
const seedOf = (target: string) =>
  createHash("sha256")
    .update(`${process.env.FUZZ_SEED ?? ""}${target}`)
    .digest()
    .readInt32BE(0);

type Handler = (req: Request, ctx: { params: Promise<Record<string, string>> }) => Promise<Response>;
type Stat = { target: string; cases: number; failures: number; ms: number; statuses: Record<string, number> };
const stats: Stat[] = [];

/** DELETE and the state-ending POSTs run last, so the seeded rows are there for everything else. */
const ORDER: Record<Method, number> = { GET: 0, PUT: 1, PATCH: 1, POST: 2, DELETE: 3 };
const LAST = /revoke|reject|evict|\/maintenance/;

const routes = routeFiles(ROOT);
const modules = new Map(
  await Promise.all(routes.map(async (r) => [r.abs, (await import(r.abs)) as Record<string, unknown>] as const)),
);

describe("fuzz: every /api/v1 route and server action on sqlite", () => {
  let database: TestDatabase | undefined;
  let agent: Awaited<ReturnType<typeof startStubAgent>>;
  let world: FuzzWorld;
  let cookie = "";
  let last: Fingerprint;
  const paths = buildOpenApi(ORIGIN).paths as OpenApiPaths;
  const covered = new Set<string>();
  const logged: string[] = [];

  beforeAll(async () => {
    // Request logs and logged errors (one JSON line each): kept, and the last one quoted when a case fails.
    vi.spyOn(console, "log").mockImplementation((line: unknown) => void logged.push(String(line).slice(0, 600)));
    vi.spyOn(console, "error").mockImplementation((line: unknown) => void logged.push(String(line).slice(0, 600)));
    agent = await startStubAgent();
    process.env.POLYARCH_PUBLIC_URL = ORIGIN;
    database = await useFreshDatabase("sqlite");
    world = await seedFuzzWorld(agent.url);
    const res = await authPost(
      new Request(`${ORIGIN}/api/auth/sign-in/email`, {
        method: "POST",
        headers: { host: "localhost:3000", origin: ORIGIN, "content-type": "application/json" },
        body: JSON.stringify({ email: "admin@fuzz.test", password: "admin-password-1" }),
      }),
    );
    expect(res.status, await res.clone().text()).toBe(200);
    cookie = res.headers
      .getSetCookie()
      .map((c) => c.split(";")[0]!)
      .join("; ");
    last = await fingerprint();
  });

  afterAll(async () => {
    await settleTasks();
    await releaseDatabase(database);
    await agent?.stop();
    vi.restoreAllMocks();
    if (process.env.FUZZ_REPORT) writeFileSync(process.env.FUZZ_REPORT, JSON.stringify(stats, null, 1));
  });

  /** After an answer: a 2xx may have started work (wait for it); a refusal must have written nothing. */
  async function checkDatabase(status: number): Promise<string | null> {
    if (status >= 200 && status < 300) {
      // Work a 2xx started may write after its answer (provisioning, evacuation): wait until it is quiet.
      await settleTasks();
      for (let prev = "", i = 0; i < 50; i++, await new Promise((r) => setTimeout(r, 30))) {
        last = await fingerprint();
        if (JSON.stringify(last) === prev) break;
        prev = JSON.stringify(last);
      }
      return null;
    }
    const now = await fingerprint();
    const diff = fingerprintDiff(last, now);
    last = now;
    return status >= 400 && status < 500 && diff ? `answered ${status} but changed ${diff}` : null;
  }

  async function fuzz(
    target: string,
    arb: fc.Arbitrary<unknown>,
    run: (input: unknown, stat: Stat) => Promise<string | null>,
  ) {
    const stat: Stat = { target, cases: 0, failures: 0, ms: 0, statuses: {} };
    stats.push(stat);
    const t0 = performance.now();
    let why = "";
    const result = await fc.check(
      fc.asyncProperty(arb, async (input) => {
        stat.cases++;
        const problem = await run(input, stat);
        if (!problem) return;
        stat.failures++;
        why = problem;
        throw new Error(`${target}: ${problem}`);
      }),
      { numRuns: RUNS, seed: seedOf(target), endOnFailure: true },
    );
    stat.ms = performance.now() - t0;
    if (result.failed)
      expect.fail(`${target}: ${why || String(result.errorInstance)}\n${fc.defaultReportMessage(result) ?? ""}`);
  }

  const targets = routes
    .flatMap((route) => METHODS.filter((m) => modules.get(route.abs)?.[m]).map((method) => ({ route, method })))
    .sort(
      (a, b) =>
        ORDER[a.method] + (LAST.test(a.route.path) ? 4 : 0) - (ORDER[b.method] + (LAST.test(b.route.path) ? 4 : 0)),
    );

  it.each(targets)("$method $route.path", async ({ route, method }: { route: RouteFile; method: Method }) => {
    const mod = (await import(route.abs)) as Partial<Record<Method, Handler>>;
    const handler = mod[method];
    if (!handler) return;
    const target = `${method} ${route.path}`;
    covered.add(target);
    expect(
      paths[route.path]?.[method.toLowerCase()],
      `${target} is not in lib/openapi.ts: no schema to fuzz it from`,
    ).toBeDefined();
    await fuzz(target, caseArbitrary(route, method, paths, world.known), async (input, stat) => {
      const c = input as ReturnType<typeof caseArbitrary> extends fc.Arbitrary<infer T> ? T : never;
      const req = toRequest(route, method, c, { token: world.token, cookie });
      const res = await handler(req, { params: Promise.resolve(c.params) });
      stat.statuses[res.status] = (stat.statuses[res.status] ?? 0) + 1;
      const streamed = res.headers.get("content-type")?.startsWith("text/event-stream");
      const text = streamed ? (await res.body?.cancel(), "") : await res.text();
      const documented = Object.keys(paths[route.path]?.[method.toLowerCase()]?.responses ?? {});
      const problem = answerProblem(res.status, text, documented) ?? (await checkDatabase(res.status));
      return problem && `${problem} (case ${c.kind}, auth ${c.auth})`;
    });
  });

  it("covered every exported method of every route file (a new route cannot skip the fuzz)", async () => {
    for (const route of routes) {
      const mod = (await import(route.abs)) as Record<string, unknown>;
      for (const name of Object.keys(mod).filter((k) => /^[A-Z]+$/.test(k)))
        expect(covered.has(`${name} ${route.path}`), `${name} ${route.file} was not fuzzed`).toBe(true);
    }
    expect(covered.size).toBeGreaterThanOrEqual(70);
  });

  const actionTargets = actionFiles(ROOT);
  it.each(actionTargets)("server actions in $file", async ({ file, abs, source }) => {
    const mod = (await import(abs)) as Record<string, unknown>;
    const names = Object.keys(mod).filter((k) => typeof mod[k] === "function");
    expect(names.length, `${file} exports no action`).toBeGreaterThan(0);
    for (const name of names.sort(
      (a, b) => Number(/delete|disable|revoke/i.test(a)) - Number(/delete|disable|revoke/i.test(b)),
    )) {
      const action = mod[name] as (raw: unknown) => Promise<{ ok: boolean; code?: string; error?: string }>;
      const ref = actionSchemaRef(source, name);
      const schema = ref
        ? ((await import(ref.module.replace(/^@\//, `${ROOT}/`))) as Record<string, unknown>)[ref.name]
        : null;
      // No schema we can name (inline, or built by a helper): the ids and names every action takes.
      const json = schema
        ? z.toJSONSchema(schema as z.ZodType, { io: "input", unrepresentable: "any" })
        : { type: "object", properties: { id: { type: "string" }, name: { type: "string" } } };
      const valid = fromSchema(json, world.known);
      const input = fc.record({
        value: fc.oneof(valid, mutated(valid), anyJson),
        asForm: fc.boolean(),
        auth: fc.constantFrom("bearer", "bearer", "bearer", "none"),
        junk: hostileString,
      });
      await fuzz(`action ${file}#${name}`, input, async (raw, stat) => {
        const i = raw as { value: unknown; asForm: boolean; auth: string };
        request.headers = new Headers(i.auth === "bearer" ? { authorization: `Bearer ${world.token}` } : {});
        let arg: unknown = i.value;
        if (i.asForm && i.value && typeof i.value === "object") {
          const form = new FormData();
          for (const [k, v] of Object.entries(i.value)) form.append(k, typeof v === "string" ? v : JSON.stringify(v));
          arg = form;
        }
        let status: number;
        let code = "";
        try {
          const r = await action(arg);
          code = r.code ?? "";
          status = r.ok ? 200 : r.code === "internal" ? 500 : 400;
          if (status === 500) return `answered internal: ${r.error} (logged: ${logged.at(-1)})`;
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          if (message !== "NEXT_UNAUTHORIZED" && message !== "NEXT_FORBIDDEN") return `threw ${message}`;
          status = 401;
        }
        stat.statuses[status] = (stat.statuses[status] ?? 0) + 1;
        const problem = await checkDatabase(status);
        return problem && `${problem} (code ${code})`;
      });
    }
  });
});
