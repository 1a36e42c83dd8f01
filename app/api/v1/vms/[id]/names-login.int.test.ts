// Display names and hostnames (issue 17) through the REAL PATCH /api/v1/vms/:id handler on fresh
// databases: a VM named in Chinese gets a DNS-safe hostname derived from it (in the API, the agent's
// spec and cloud-init) unless one is given; PATCH renames it. Refusals change nothing: a viewer 403,
// another project's operator 404, a cross-site browser write 403, a bad hostname or a bidi override
// 400, a hostname change on a VM mid-create 409, and a host that cannot be told (nothing listens on
// its agent address) undoes the change. The wizard's login (a password and/or an SSH key for the
// image's default user) reaches cloud-init with the password only as a SHA-512 crypt hash.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "@/lib/server/testing/server-db";
import type { TestDatabase } from "@/prisma/test-db";
import { db, type Actor } from "@/lib/server/platform";
import { createToken, createUser } from "@/lib/server/identity";
import { addProjectMember, createProject } from "@/lib/server/projects";
import { insertTestHost, insertTestImage } from "@/lib/server/testing/rows";
import { createVm, specFor } from "@/lib/server/vms";
import { POST as authPost } from "@/app/api/auth/[...all]/route";
import { sessionCookie } from "@/lib/server/testing/session-cookie";
import * as vmRoute from "@/app/api/v1/vms/[id]/route";
import { createVmSchema } from "@/lib/schemas/vms";
import * as vmsRoute from "@/app/api/v1/vms/route";
import { verify } from "unixcrypt";

const SELF = "http://localhost:3000";
const FOREIGN = "http://localhost:8080";
type Handler = (req: Request, ctx: { params: Promise<never> }) => Promise<Response>;

describe.each(PROVIDERS)("VM names and hostnames on %s", (provider) => {
  let database: TestDatabase | undefined;
  const tokens: Record<"admin" | "opA" | "opB" | "viewerA", string> = { admin: "", opA: "", opB: "", viewerA: "" };
  let cookie = "";
  let admin: Actor;
  let projectA = "";
  let imageId = "";
  const savedPublicUrl = process.env.POLYARCH_PUBLIC_URL;

  beforeAll(async () => {
    vi.spyOn(console, "log").mockImplementation(() => undefined);
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    process.env.POLYARCH_PUBLIC_URL = SELF;
    database = await useFreshDatabase(provider);
    const { id: adminId } = await createUser({
      email: "admin@rn.test",
      name: "Admin",
      role: "admin",
      password: "admin-password-1",
    });
    admin = { id: adminId, email: "admin@rn.test", name: "Admin", role: "admin", via: "session" };
    const who = { actor: admin, clientIp: null };
    projectA = (await createProject({ name: "研发部", description: null }, who)).id;
    const projectB = (await createProject({ name: "beta", description: null }, who)).id;
    tokens.admin = (await createToken(admin, "t", 0, null)).token;
    for (const [key, role, project] of [
      ["opA", "operator", projectA],
      ["opB", "operator", projectB],
      ["viewerA", "viewer", projectA],
    ] as const) {
      const email = `${key.toLowerCase()}@rn.test`;
      const { id } = await createUser({ email, name: key, role, password: "member-password-1" }, who);
      await addProjectMember(project, { userId: id }, who);
      tokens[key] = (await createToken({ id, email, name: key, role, via: "session" }, "t", 0, null)).token;
    }
    await insertTestHost({ name: "a" });
    imageId = (await insertTestImage()).id;
    cookie = await sessionCookie(authPost, SELF, "admin@rn.test", "admin-password-1");
  });

  afterAll(async () => {
    vi.restoreAllMocks();
    await releaseDatabase(database);
    if (savedPublicUrl === undefined) delete process.env.POLYARCH_PUBLIC_URL;
    else process.env.POLYARCH_PUBLIC_URL = savedPublicUrl;
  });

  async function newVm(name: string, hostname?: string, extra: Record<string, unknown> = {}) {
    const input = createVmSchema.parse({
      ...extra,
      name,
      hostname,
      arch: "x86_64",
      imageId,
      vcpus: 1,
      memoryMb: 128,
      diskGb: 1,
      projectId: projectA,
    });
    return (await createVm(input, { actor: admin, clientIp: null }, { provision: false })).vm;
  }

  async function patch(id: string, as: keyof typeof tokens | "cross-site", body: unknown) {
    const headers = new Headers({ host: "localhost:3000" });
    if (as === "cross-site") headers.set("origin", FOREIGN);
    if (as === "cross-site") headers.set("cookie", cookie);
    else headers.set("authorization", `Bearer ${tokens[as]}`);
    headers.set("content-type", "application/json");
    const res = await (vmRoute.PATCH as Handler)(
      new Request(`${SELF}/api/v1/vms/${id}`, { method: "PATCH", headers, body: JSON.stringify(body) }),
      { params: Promise.resolve({ id }) as Promise<never> },
    );
    return {
      status: res.status,
      body: (await res.json()) as { error?: { code: string; message: string } } & Record<string, unknown>,
    };
  }

  const names = async (id: string) =>
    db().vm.findUniqueOrThrow({ where: { id }, select: { name: true, hostname: true } });

  it("derives a DNS-safe hostname from a name in any script; the agent's spec and cloud-init use it", async () => {
    const vm = await newVm("数据库 主节点");
    expect([vm.name, vm.hostname]).toEqual(["数据库 主节点", "shujuku-zhujiedian"]);
    const spec = await specFor(vm.id);
    expect([spec.name, spec.cloudInit?.hostname]).toEqual(["shujuku-zhujiedian", "shujuku-zhujiedian"]);
    const given = await newVm("Сервер", "db-1.lab");
    expect([given.name, given.hostname]).toEqual(["Сервер", "db-1.lab"]);
  });

  it("renames: the display name alone, then the hostname of a VM no host holds", async () => {
    const vm = await newVm("web");
    await db().vm.update({ where: { id: vm.id }, data: { status: "error", hostId: null } });
    const r1 = await patch(vm.id, "opA", { name: "前端 web" });
    expect([r1.status, r1.body.name, r1.body.hostname]).toEqual([200, "前端 web", "web"]);
    const r2 = await patch(vm.id, "admin", { hostname: "frontend-1" });
    expect([r2.status, r2.body.hostname]).toEqual([200, "frontend-1"]);
    expect((await specFor(vm.id)).name).toBe("frontend-1");
    const audit = await db().auditEvent.findMany({
      where: { targetId: vm.id, action: "vm.update", result: "success" },
    });
    expect(audit).toHaveLength(2);
  });

  it("refusals change nothing: viewer 403, other project 404, cross-site 403, bad input 400, mid-create 409, host unreachable", async () => {
    const vm = await newVm("keep-me");
    const before = await names(vm.id);
    const cases: [keyof typeof tokens | "cross-site", unknown, number, string][] = [
      ["viewerA", { name: "x" }, 403, "forbidden"],
      ["opB", { name: "x" }, 404, "not_found"],
      ["cross-site", { name: "x" }, 403, "forbidden"],
      ["admin", { hostname: "-bad-" }, 400, "invalid"],
      ["admin", { hostname: "数据库" }, 400, "invalid"],
      ["admin", { name: "evil\u202etxt.exe" }, 400, "invalid"],
      ["admin", { name: "" }, 400, "invalid"],
      ["admin", {}, 400, "invalid"],
      ["admin", { name: "x", owner: "me" }, 400, "invalid"],
      ["admin", { name: "x", ha: true }, 400, "invalid"],
      // placed and still "creating": the host holds no settled copy to tell
      ["admin", { hostname: "other" }, 409, "conflict"],
    ];
    for (const [as, body, status, code] of cases) {
      const r = await patch(vm.id, as, body);
      expect([as, body, r.status, r.body.error?.code]).toEqual([as, body, status, code]);
    }
    expect(await names(vm.id)).toEqual(before);
    // Running on a host whose agent does not answer: the change is undone and the error says so.
    await db().vm.update({ where: { id: vm.id }, data: { status: "running", powerState: "running" } });
    const r = await patch(vm.id, "admin", { name: "renamed", hostname: "other" });
    expect(r.status).toBeGreaterThanOrEqual(500);
    expect(await names(vm.id)).toEqual(before);
    const failed = await db().auditEvent.count({ where: { targetId: vm.id, action: "vm.update", result: "error" } });
    expect(failed).toBe(2);
  });

  it("the wizard's login: the password only as a SHA-512 crypt hash in the database and cloud-init, the key first", async () => {
    const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHbEv4XGmS8lyE3FsYiF5yv3t8u3oXPBq6n4Jm8Fq2dX ops@desk";
    const vm = await newVm("login-1", undefined, { password: "correct horse 1", sshKey: ` ${key}  ` });
    const row = await db().vm.findUniqueOrThrow({ where: { id: vm.id } });
    expect(row.loginPasswordHash).toMatch(/^\$6\$[./0-9A-Za-z]{16}\$/);
    expect(verify("correct horse 1", row.loginPasswordHash!)).toBe(true);
    expect(verify("correct horse 2", row.loginPasswordHash!)).toBe(false);
    const ci = (await specFor(vm.id)).cloudInit!;
    expect(ci.sshKeys[0]).toBe(key);
    expect(ci.userData).toBe(
      `#cloud-config\npassword: "${row.loginPasswordHash}"\nchpasswd:\n  expire: false\nssh_pwauth: true\n`,
    );
    expect(JSON.stringify(vm)).not.toContain("$6$");
    expect(JSON.stringify(ci)).not.toContain("correct horse");
  });

  it("POST /api/v1/vms refuses a password with user-data, a short password and a private key — nothing is created", async () => {
    const count = () => db().vm.count();
    const before = await count();
    const base = { name: "x", arch: "x86_64", imageId, vcpus: 1, memoryMb: 128, diskGb: 1, projectId: projectA };
    for (const [extra, field] of [
      [{ password: "long enough 1", userData: "#cloud-config\n" }, "password"],
      [{ password: "short" }, "password"],
      [{ sshKey: "-----BEGIN OPENSSH PRIVATE KEY----- abc" }, "sshKey"],
    ] as const) {
      const res = await (vmsRoute.POST as unknown as Handler)(
        new Request(`${SELF}/api/v1/vms`, {
          method: "POST",
          headers: {
            host: "localhost:3000",
            authorization: `Bearer ${tokens.admin}`,
            "content-type": "application/json",
          },
          body: JSON.stringify({ ...base, ...extra }),
        }),
        { params: Promise.resolve({}) as Promise<never> },
      );
      const body = (await res.json()) as { error: { code: string; message: string; fields?: Record<string, unknown> } };
      expect([res.status, body.error.code, JSON.stringify(body.error)]).toEqual([
        400,
        "invalid",
        expect.stringContaining(field),
      ]);
    }
    expect(await count()).toBe(before);
  });
});
