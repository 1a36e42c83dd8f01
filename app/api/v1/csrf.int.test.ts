// Cross-site writes (ADR 023), against the REAL route handlers and a fresh database. A page on
// another port of the same host (http://localhost:8080) is same-site, so SameSite=Lax lets the
// admin's session cookie ride along on its POSTs, and a `text/plain` body needs no CORS preflight.
// Each write route is called five ways, with a real better-auth session cookie:
//   (a) cookie + Origin http://localhost:8080 + text/plain   → 403, nothing changed
//   (b) cookie + Sec-Fetch-Site: same-site (no Origin)        → 403, nothing changed
//   (c) cookie + same origin + text/plain                     → 415, nothing changed
//   (d) cookie + same origin + application/json               → what it answered before
//   (e) Bearer token + Origin http://localhost:8080           → what it answered before (exempt)
import http from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "@/lib/server/testing/server-db";
import type { TestDatabase } from "@/prisma/test-db";
import { db, type Actor } from "@/lib/server/platform";
import { createToken, createUser } from "@/lib/server/identity";
import { addProjectMember, createProject } from "@/lib/server/projects";
import { POST as authPost } from "@/app/api/auth/[...all]/route";
import { GET as listUsers, POST as createUserRoute } from "@/app/api/v1/users/route";
import { POST as createVmRoute } from "@/app/api/v1/vms/route";
import { POST as revokeHostRoute } from "@/app/api/v1/hosts/[id]/revoke/route";
import { DELETE as removeMemberRoute, POST as addMemberRoute } from "@/app/api/v1/projects/[id]/members/route";
import { POST as importImageRoute } from "@/app/api/v1/images/import/route";
import { POST as uploadImageRoute } from "@/app/api/v1/images/route";

const SELF = "http://localhost:3000";
const FOREIGN = "http://localhost:8080";
const TEXT = "text/plain;charset=UTF-8";
const JSON_TYPE = "application/json";

// `never`: any route's params type accepts it (each call below passes the params its route needs).
type Handler = (req: Request, ctx: { params: Promise<never> }) => Promise<Response>;
type Way = "a" | "b" | "c" | "d" | "e";
const WRITE_METHODS = ["POST", "PUT", "PATCH", "DELETE"] as const;

/** Every route file under app/api/v1, as "app/api/v1/…/route.ts". */
function routeFiles(): string[] {
  const dir = dirname(fileURLToPath(import.meta.url));
  return (readdirSync(dir, { recursive: true }) as string[])
    .filter((f) => f.split(sep).at(-1) === "route.ts")
    .sort()
    .map((f) => join(dir, f));
}

/** The agent stand-in for VM creates: answers the create (PUT) with a running VM. */
function stubAgent() {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const id = decodeURIComponent((req.url ?? "").split("/")[3] ?? "");
      const vm = { id, name: "vm", arch: "x86_64", powerState: "running", emulated: false, accel: "kvm", vcpus: 1 };
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ ...vm, memoryMb: 256 }));
    });
  });
  return server;
}

describe.each(PROVIDERS)("cross-site writes on %s", (provider) => {
  let database: TestDatabase | undefined;
  let cookie = "";
  let token = "";
  let projectId = "";
  let imageId = "";
  let admin: Actor;
  const hostIds: string[] = [];
  let work = "";
  const agent = stubAgent();
  const savedPublicUrl = process.env.POLYARCH_PUBLIC_URL;

  /** What a browser page (or a script, for "e") sends for each way; `body` undefined = no body at all. */
  function request(way: Way, method: string, path: string, body?: string, type: string = JSON_TYPE): Request {
    const headers = new Headers({ host: "localhost:3000" });
    if (way === "e") headers.set("authorization", `Bearer ${token}`);
    else headers.set("cookie", cookie);
    if (way === "a" || way === "e") headers.set("origin", FOREIGN);
    if (way === "c" || way === "d") headers.set("origin", SELF);
    if (way === "b" || way === "e") headers.set("sec-fetch-site", "same-site");
    if (way === "c" || way === "d") headers.set("sec-fetch-site", "same-origin");
    if (body !== undefined) headers.set("content-type", way === "a" || way === "c" ? TEXT : type);
    return new Request(`${SELF}${path}`, { method, headers, body });
  }
  const call = (handler: Handler, req: Request, params: Record<string, string> = {}) =>
    handler(req, { params: Promise.resolve(params) as Promise<never> });

  /** Runs ways a–c (each must be refused and change nothing) and returns (d)'s and (e)'s answers. */
  async function fiveWays(
    send: (way: Way) => { handler: Handler; req: Request; params?: Record<string, string> },
    state: () => Promise<unknown>,
  ) {
    const before = await state();
    for (const [way, status, code] of [
      ["a", 403, "forbidden"],
      ["b", 403, "forbidden"],
      ["c", 415, "unsupported_media_type"],
    ] as const) {
      const { handler, req, params } = send(way);
      const res = await call(handler, req, params);
      const body = await res.json();
      expect([way, res.status, body.error?.code], JSON.stringify(body)).toEqual([way, status, code]);
      if (status === 403) expect(body.error.message).toMatch(/^Cross-site request refused: /);
      else expect(body.error.message).toMatch(/Content-Type: (application\/json|multipart\/form-data)/);
      expect(req.bodyUsed, `(${way}) the body is refused unread`).toBe(false);
      expect(await state(), `(${way}) changed nothing`).toEqual(before);
    }
    const answer = async (way: "d" | "e") => {
      const { handler, req, params } = send(way);
      const res = await call(handler, req, params);
      return { status: res.status, body: await res.json() };
    };
    return { d: await answer("d"), e: await answer("e") };
  }

  /** VM creates finish after the answer (202): wait for their tasks before the database goes. */
  async function provisioned(vmId: string) {
    for (let i = 0; i < 400; i++) {
      const task = await db().task.findFirst({ where: { vmId, kind: "vm.create" } });
      if (task && task.status !== "running") return task.status;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error("provisioning did not finish");
  }

  // Each refusal is logged (one JSON line): kept here instead of on the console, and checked once.
  const logged: string[] = [];

  beforeAll(async () => {
    vi.spyOn(console, "log").mockImplementation((line: unknown) => void logged.push(String(line)));
    await new Promise<void>((r) => agent.listen(0, "127.0.0.1", r));
    process.env.POLYARCH_PUBLIC_URL = SELF;
    database = await useFreshDatabase(provider);
    work = mkdtempSync(join(tmpdir(), "polyarch-csrf-test-"));
    const { id: adminId } = await createUser({
      email: "admin@csrf.test",
      name: "Admin",
      role: "admin",
      password: "admin-password-1",
    });
    admin = { id: adminId, email: "admin@csrf.test", name: "Admin", role: "admin", via: "session" };
    const who = { actor: admin, clientIp: null };
    token = (await createToken(admin, "csrf test", 0, null)).token;
    for (const email of ["m1@csrf.test", "m2@csrf.test", "m3@csrf.test", "m4@csrf.test"])
      await createUser({ email, name: email, role: "viewer", password: "member-password-1" }, who);
    projectId = (await createProject({ name: "lab", description: null }, who)).id;
    for (const name of ["h-d", "h-e"]) {
      const host = await db().host.create({
        data: {
          name,
          arch: "x86_64",
          cpuCount: 16,
          memoryMb: 65536,
          diskGb: 1000,
          status: "online",
          nativeArches: '["x86_64"]',
          emulatedArches: "[]",
          agentUrl: `http://127.0.0.1:${(agent.address() as AddressInfo).port}`,
        },
      });
      hostIds.push(host.id);
    }
    imageId = (
      await db().image.create({
        data: { name: "img", arch: "x86_64", format: "kernel", status: "ready", minMemoryMb: 64, minDiskGb: 1 },
      })
    ).id;

    // A real session: signed in through better-auth's own handler, from the console's own page.
    const res = await authPost(
      new Request(`${SELF}/api/auth/sign-in/email`, {
        method: "POST",
        headers: { host: "localhost:3000", origin: SELF, "content-type": JSON_TYPE },
        body: JSON.stringify({ email: "admin@csrf.test", password: "admin-password-1" }),
      }),
    );
    expect(res.status, await res.clone().text()).toBe(200);
    cookie = res.headers
      .getSetCookie()
      .map((c) => c.split(";")[0]!)
      .filter((c) => c.includes("session_token="))
      .join("; ");
    expect(cookie).toContain("session_token=");
  });

  afterAll(async () => {
    vi.restoreAllMocks();
    await releaseDatabase(database);
    if (work) rmSync(work, { recursive: true, force: true });
    agent.closeAllConnections();
    await new Promise<void>((r) => agent.close(() => r()));
    if (savedPublicUrl === undefined) delete process.env.POLYARCH_PUBLIC_URL;
    else process.env.POLYARCH_PUBLIC_URL = savedPublicUrl;
  });

  it("every write handler under app/api/v1 refuses the cross-site request, unread and unauthenticated", async () => {
    const refused: string[] = [];
    for (const file of routeFiles()) {
      const mod = (await import(file)) as Partial<Record<(typeof WRITE_METHODS)[number], Handler>>;
      for (const method of WRITE_METHODS) {
        const handler = mod[method];
        if (!handler) continue;
        const where = `${method} ${file.slice(file.indexOf("app/api/v1"))}`;
        const req = request("a", method, "/api/v1/any", '{"name":"x"}');
        const res = await call(handler, req, { id: "any", family: "any" });
        expect([where, res.status], await res.text()).toEqual([where, 403]);
        expect(req.bodyUsed, where).toBe(false);
        refused.push(where);
      }
    }
    const lines = logged.flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
    const line = lines.find((l) => l.message === "cross-site write refused" && l.method === "DELETE");
    expect(line).toMatchObject({ message: "cross-site write refused", origin: FOREIGN });
    // The routes named in the issue are among them (and the list is not silently empty).
    expect(refused.length).toBeGreaterThanOrEqual(20);
    expect(refused.join("\n")).toMatch(/POST app\/api\/v1\/users\/route\.ts/);
    expect(refused.join("\n")).toMatch(/POST app\/api\/v1\/images\/route\.ts/);
  });

  it("POST /api/v1/users: the verified attack (a new admin from localhost:8080) is refused", async () => {
    const newAdmin = (way: Way) =>
      JSON.stringify({ email: `evil-${way}@csrf.test`, name: "Evil", role: "admin", password: "evil-password-1" });
    const { d, e } = await fiveWays(
      (way) => ({ handler: createUserRoute, req: request(way, "POST", "/api/v1/users", newAdmin(way)) }),
      () => db().user.findMany({ select: { email: true }, orderBy: { email: "asc" } }),
    );
    expect([d.status, e.status]).toEqual([201, 201]);
    const created = await db().user.findMany({ where: { email: { startsWith: "evil-" } }, orderBy: { email: "asc" } });
    expect(created.map((u) => [u.id, u.email])).toEqual([
      [d.body.id, "evil-d@csrf.test"],
      [e.body.id, "evil-e@csrf.test"],
    ]);
  });

  it("POST /api/v1/vms", async () => {
    const vm = (way: Way) =>
      JSON.stringify({ name: `vm-${way}`, arch: "x86_64", imageId, vcpus: 1, memoryMb: 256, diskGb: 1, projectId });
    const { d, e } = await fiveWays(
      (way) => ({ handler: createVmRoute, req: request(way, "POST", "/api/v1/vms", vm(way)) }),
      () => db().vm.findMany({ select: { name: true } }),
    );
    expect([d.status, d.body.vm?.name]).toEqual([202, "vm-d"]);
    expect([e.status, e.body.vm?.name]).toEqual([202, "vm-e"]);
    expect(await provisioned(d.body.vm.id)).toBe("succeeded");
    expect(await provisioned(e.body.vm.id)).toBe("succeeded");
  });

  it("POST /api/v1/hosts/[id]/revoke (no body: the console's own button sends none)", async () => {
    const host = (way: Way) => hostIds[way === "e" ? 1 : 0]!;
    const { d, e } = await fiveWays(
      (way) => ({
        handler: revokeHostRoute,
        // (a) and (c) are the form-like text/plain POST; the others send no body, as the UI does.
        req: request(way, "POST", `/api/v1/hosts/${host(way)}/revoke`, way === "a" || way === "c" ? "{}" : undefined),
        params: { id: host(way) },
      }),
      () => db().host.findMany({ select: { id: true, revokedAt: true }, orderBy: { id: "asc" } }),
    );
    expect([d.status, d.body.hostId]).toEqual([200, hostIds[0]]);
    expect([e.status, e.body.hostId]).toEqual([200, hostIds[1]]);
    expect(await db().host.count({ where: { revokedAt: { not: null } } })).toBe(2);
  });

  it("POST and DELETE /api/v1/projects/[id]/members", async () => {
    const members = () => db().projectMember.findMany({ where: { projectId }, select: { userId: true } });
    const member = (way: Way) => JSON.stringify({ email: way === "e" ? "m2@csrf.test" : "m1@csrf.test" });
    const path = `/api/v1/projects/${projectId}/members`;
    const added = await fiveWays(
      (way) => ({ handler: addMemberRoute, req: request(way, "POST", path, member(way)), params: { id: projectId } }),
      members,
    );
    expect([added.d.status, added.d.body.added]).toEqual([200, true]);
    expect([added.e.status, added.e.body.added]).toEqual([200, true]);
    expect(await members()).toHaveLength(2);

    const removed = await fiveWays(
      (way) => ({
        handler: removeMemberRoute,
        req: request(way, "DELETE", path, member(way)),
        params: { id: projectId },
      }),
      members,
    );
    expect([removed.d.status, removed.d.body.removed]).toEqual([200, true]);
    expect([removed.e.status, removed.e.body.removed]).toEqual([200, true]);
    expect(await members()).toHaveLength(0);
  });

  it("DELETE with the member in the query and no body: refused cross-site, allowed from the console", async () => {
    const who = { actor: admin, clientIp: null };
    await addProjectMember(projectId, { email: "m3@csrf.test" }, who);
    await addProjectMember(projectId, { email: "m4@csrf.test" }, who);
    const members = () => db().projectMember.count({ where: { projectId } });
    const path = (email: string) => `/api/v1/projects/${projectId}/members?email=${encodeURIComponent(email)}`;
    const params = { id: projectId };
    const bodiless = (way: Way, email: string) => request(way, "DELETE", path(email));
    for (const way of ["a", "b"] as const) {
      const res = await call(removeMemberRoute, bodiless(way, "m3@csrf.test"), params);
      expect([way, res.status]).toEqual([way, 403]);
    }
    expect(await members()).toBe(2);
    expect((await call(removeMemberRoute, bodiless("d", "m3@csrf.test"), params)).status).toBe(200);
    expect((await call(removeMemberRoute, bodiless("e", "m4@csrf.test"), params)).status).toBe(200);
    expect(await members()).toBe(0);
  });

  it("POST /api/v1/images/import (a controller file that is no kernel: refused by the import, as before)", async () => {
    const path = join(work, "not-a-kernel");
    writeFileSync(path, Buffer.alloc(4096, 7));
    const input = (way: Way) => JSON.stringify({ path, name: `import-${way}`, format: "kernel" });
    const attempts = () => db().auditEvent.findMany({ where: { action: "image.import" }, select: { id: true } });
    const { d, e } = await fiveWays(
      (way) => ({ handler: importImageRoute, req: request(way, "POST", "/api/v1/images/import", input(way)) }),
      async () => ({ images: await db().image.count(), attempts: await attempts() }),
    );
    // Reached the import itself: the bytes were read and judged, and the attempt audited.
    expect([d.status, d.body.error?.code]).toEqual([422, "unprocessable"]);
    expect([e.status, e.body.error?.code]).toEqual([422, "unprocessable"]);
    expect(await attempts()).toHaveLength(2);
  });

  it("POST /api/v1/images (the streamed upload) takes multipart/form-data and nothing else", async () => {
    const form = (way: Way) => {
      const f = new FormData();
      f.append("name", `upload-${way}`);
      f.append("format", "kernel");
      f.append("kernel", new Blob([Buffer.alloc(4096, 7)]), "vmlinuz");
      return f;
    };
    const upload = (way: Way, body: FormData | string, type?: string) => {
      const req = request(way, "POST", "/api/v1/images", "x");
      const headers = new Headers(req.headers);
      headers.delete("content-type");
      if (type) headers.set("content-type", type);
      return new Request(req.url, { method: "POST", headers, body });
    };
    const attempts = () => db().auditEvent.count({ where: { action: "image.upload" } });
    const refused = [
      ["a", upload("a", form("a")), 403],
      ["b", upload("b", form("b")), 403],
      ["c", upload("c", '{"name":"x"}', JSON_TYPE), 415],
      ["c", upload("c", "name=x", "application/x-www-form-urlencoded"), 415],
    ] as const;
    for (const [way, req, status] of refused) {
      const res = await call(uploadImageRoute, req);
      expect([way, res.status]).toEqual([way, status]);
      expect(req.bodyUsed).toBe(false);
    }
    expect(await attempts()).toBe(0);
    for (const way of ["d", "e"] as const) {
      const res = await call(uploadImageRoute, upload(way, form(way)));
      expect([way, res.status, (await res.json()).error?.code]).toEqual([way, 422, "unprocessable"]);
    }
    expect(await attempts()).toBe(2);
    expect(await db().image.count({ where: { name: { startsWith: "upload-" } } })).toBe(0);
  });

  it("the rule's edges: reads, scripts without Origin, proxies, `null` origins and https pages", async () => {
    const post = (headers: Record<string, string>, url = `${SELF}/api/v1/users`) =>
      call(
        createUserRoute,
        new Request(url, {
          method: "POST",
          headers: { cookie, "content-type": JSON_TYPE, ...headers },
          body: JSON.stringify({ email: "bad", name: "x", role: "viewer", password: "whatever-pass-1" }),
        }),
      );
    // Past the check, this body is a 400 (invalid email): the status tells which side of the rule we are on.
    const PASSED = 400;
    // A read is never refused: the cross-site check guards writes only.
    const read = await call(listUsers, new Request(`${SELF}/api/v1/users`, { headers: { cookie, origin: FOREIGN } }));
    expect(read.status).toBe(200);
    // No Origin, no Sec-Fetch-Site: curl, Playwright's request context, old browsers' same-origin requests.
    expect((await post({})).status).toBe(PASSED);
    expect((await post({ "sec-fetch-site": "none" })).status).toBe(PASSED);
    // Sandboxed frames and opaque origins send `null`; a malformed Origin is no better.
    expect((await post({ origin: "null" })).status).toBe(403);
    expect((await post({ origin: "localhost:3000" })).status).toBe(403);
    // A sibling subdomain, and the same host over plain http when the console is https.
    expect((await post({ origin: "https://evil.cloud.example", host: "cloud.example" })).status).toBe(403);
    expect(
      (
        await post(
          { origin: "http://cloud.example", host: "cloud.example", "x-forwarded-proto": "https" },
          "https://cloud.example/api/v1/users",
        )
      ).status,
    ).toBe(403);
    // The server was started as localhost:3000 but the browser reached it by another name: Host is what counts.
    expect((await post({ origin: "http://127.0.0.1:3000", host: "127.0.0.1:3000" })).status).toBe(PASSED);
    // Behind a TLS proxy that forwards the public host and scheme.
    expect(
      (
        await post(
          { origin: "https://cloud.example", host: "localhost:3000", "x-forwarded-host": "cloud.example" },
          "https://localhost:3000/api/v1/users",
        )
      ).status,
    ).toBe(PASSED);
    // The configured public URL, when a proxy forwards neither.
    expect((await post({ origin: SELF, host: "10.0.0.5:3000" }, "http://10.0.0.5:3000/api/v1/users")).status).toBe(
      PASSED,
    );
    // Refused before authentication: a forged cookie gets the 403, not a 401, and nothing is audited.
    const audited = await db().auditEvent.count();
    expect((await post({ cookie: "better-auth.session_token=forged", origin: FOREIGN })).status).toBe(403);
    expect(await db().auditEvent.count()).toBe(audited);
    // A body with no Content-Type at all is not JSON either.
    const untyped = new Request(`${SELF}/api/v1/users`, {
      method: "POST",
      headers: { cookie, origin: SELF, "content-length": "2" },
      body: new Blob(["{}"]),
    });
    expect((await call(createUserRoute, untyped)).status).toBe(415);
  });

  describe("better-auth's own routes (/api/auth/*) refuse cross-site writes too", () => {
    const auth = (path: string, headers: Record<string, string>, body: string) =>
      authPost(
        new Request(`${SELF}/api/auth${path}`, {
          method: "POST",
          headers: { host: "localhost:3000", ...headers },
          body,
        }),
      );
    const signIn = (headers: Record<string, string>) =>
      auth("/sign-in/email", headers, JSON.stringify({ email: "m1@csrf.test", password: "member-password-1" }));
    const sessions = () => db().session.count();

    it("sign-in from another origin, or as text/plain, creates no session", async () => {
      const before = await sessions();
      const foreign = await signIn({ origin: FOREIGN, "content-type": JSON_TYPE });
      expect(foreign.status).toBe(403);
      expect(((await foreign.json()) as { code?: string }).code).toBe("INVALID_ORIGIN");
      expect((await signIn({ origin: FOREIGN, "content-type": TEXT })).status).toBe(415);
      expect(await sessions()).toBe(before);
      expect((await signIn({ origin: SELF, "content-type": JSON_TYPE })).status).toBe(200);
      expect(await sessions()).toBe(before + 1);
    });

    it("sign-out with the session cookie from another origin (or with none) leaves the session alive", async () => {
      const still = () => call(listUsers, new Request(`${SELF}/api/v1/users`, { headers: { cookie } }));
      const signOut = (headers: Record<string, string>) => auth("/sign-out", { cookie, ...headers }, "{}");
      expect((await signOut({ origin: FOREIGN, "content-type": JSON_TYPE })).status).toBe(403);
      expect((await signOut({ origin: FOREIGN, "content-type": TEXT })).status).toBe(415);
      expect((await signOut({ "content-type": JSON_TYPE })).status).toBe(403); // cookie but no Origin/Referer
      expect((await still()).status).toBe(200);
      expect((await signOut({ origin: SELF, "content-type": JSON_TYPE })).status).toBe(200);
      expect((await still()).status).toBe(401);
    });
  });
});
