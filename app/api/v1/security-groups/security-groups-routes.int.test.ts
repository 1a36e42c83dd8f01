// The security-group routes of issue 18 (ADR 052) against the REAL route handlers and fresh databases
// (SQLite and PostgreSQL): every write as the wrong role (a viewer: 403), the wrong project (an operator
// of another project: 404, like a missing id) and a cross-site browser write (403 / 415 with the
// admin's real session cookie) changes nothing; the right operator gets the documented answer, bad
// input a 400 naming the field, and a VM takes only its own project's groups (403 otherwise).
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "@/lib/server/testing/server-db";
import type { TestDatabase } from "@/prisma/test-db";
import { db, type Actor } from "@/lib/server/platform";
import { createToken, createUser } from "@/lib/server/identity";
import { addProjectMember, createProject } from "@/lib/server/projects";
import { insertTestHost, insertTestImage } from "@/lib/server/testing/rows";
import { createVm } from "@/lib/server/vms";
import { firewallForVm } from "@/lib/server/vms";
import { POST as authPost } from "@/app/api/auth/[...all]/route";
import { sessionCookie } from "@/lib/server/testing/session-cookie";
import * as groupsRoute from "@/app/api/v1/security-groups/route";
import * as groupRoute from "@/app/api/v1/security-groups/[id]/route";
import * as rulesRoute from "@/app/api/v1/security-groups/[id]/rules/route";
import * as ruleRoute from "@/app/api/v1/security-groups/[id]/rules/[ruleId]/route";
import * as vmGroupsRoute from "@/app/api/v1/vms/[id]/security-groups/route";

const SELF = "http://localhost:3000";
const FOREIGN = "http://localhost:8080";
type Handler = (req: Request, ctx: { params: Promise<never> }) => Promise<Response>;
type Body = { error?: { code: string; message: string } } & Record<string, unknown>;

describe.each(PROVIDERS)("security-group routes on %s", (provider) => {
  let database: TestDatabase | undefined;
  const tokens: Record<"admin" | "opA" | "opB" | "viewerA", string> = { admin: "", opA: "", opB: "", viewerA: "" };
  let cookie = "";
  let projectA = "";
  let projectB = "";
  let vmA = "";
  let groupA = "";
  let ruleA = "";
  let groupB = "";
  const savedPublicUrl = process.env.POLYARCH_PUBLIC_URL;

  beforeAll(async () => {
    vi.spyOn(console, "log").mockImplementation(() => undefined);
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    process.env.POLYARCH_PUBLIC_URL = SELF;
    database = await useFreshDatabase(provider);
    const { id: adminId } = await createUser({
      email: "admin@sg.test",
      name: "Admin",
      role: "admin",
      password: "admin-password-1",
    });
    const admin: Actor = { id: adminId, email: "admin@sg.test", name: "Admin", role: "admin", via: "session" };
    const who = { actor: admin, clientIp: null };
    projectA = (await createProject({ name: "alpha", description: null }, who)).id;
    projectB = (await createProject({ name: "beta", description: null }, who)).id;
    tokens.admin = (await createToken(admin, "t", 0, null)).token;
    for (const [key, role, project] of [
      ["opA", "operator", projectA],
      ["opB", "operator", projectB],
      ["viewerA", "viewer", projectA],
    ] as const) {
      const email = `${key.toLowerCase()}@sg.test`;
      const { id } = await createUser({ email, name: key, role, password: "member-password-1" }, who);
      await addProjectMember(project, { userId: id }, who);
      tokens[key] = (await createToken({ id, email, name: key, role, via: "session" }, "t", 0, null)).token;
    }
    await insertTestHost({ name: "host-a" });
    const image = await insertTestImage();
    vmA = (
      await createVm(
        {
          name: "vm-a",
          arch: "x86_64",
          imageId: image.id,
          vcpus: 1,
          memoryMb: 256,
          diskGb: 1,
          networkId: null,
          allowEmulation: false,
          strategy: "spread",
          projectId: projectA,
        },
        who,
        { provision: false },
      )
    ).vm.id;
    cookie = await sessionCookie(authPost, SELF, "admin@sg.test", "admin-password-1");
  });

  afterAll(async () => {
    vi.restoreAllMocks();
    await releaseDatabase(database);
    if (savedPublicUrl === undefined) delete process.env.POLYARCH_PUBLIC_URL;
    else process.env.POLYARCH_PUBLIC_URL = savedPublicUrl;
  });

  async function send(
    handler: Handler,
    method: string,
    params: Record<string, string>,
    as: keyof typeof tokens | "cross-site" | "cross-site-text",
    body?: unknown,
  ): Promise<{ status: number; body: Body }> {
    const headers = new Headers({ host: "localhost:3000" });
    if (as === "cross-site") headers.set("origin", FOREIGN);
    if (as === "cross-site-text") headers.set("origin", SELF);
    if (as.startsWith("cross-site")) headers.set("cookie", cookie);
    else headers.set("authorization", `Bearer ${tokens[as as keyof typeof tokens]}`);
    if (body !== undefined)
      headers.set("content-type", as.startsWith("cross-site") ? "text/plain;charset=UTF-8" : "application/json");
    const res = await handler(
      new Request(`${SELF}/api/v1/x`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }),
      { params: Promise.resolve(params) as Promise<never> },
    );
    return { status: res.status, body: (await res.json()) as Body };
  }

  const state = async () => ({
    groups: await db().securityGroup.findMany({ orderBy: { id: "asc" }, include: { rules: true } }),
    members: await db().vmSecurityGroup.findMany({ orderBy: { groupId: "asc" } }),
  });

  it("operators create groups in their project: deny in / allow out by default; bad input is a 400", async () => {
    const a = await send(groupsRoute.POST as Handler, "POST", {}, "opA", {
      name: "web",
      description: "web tier",
      projectId: projectA,
    });
    expect(a.status).toBe(201);
    expect(a.body).toMatchObject({ name: "web", projectId: projectA, vmCount: 0 });
    expect(a.body.rules).toEqual([expect.objectContaining({ direction: "out", protocol: "any", remoteCidr: null })]);
    groupA = a.body.id as string;
    const b = await send(groupsRoute.POST as Handler, "POST", {}, "opB", { name: "db", projectId: projectB });
    expect([b.status, b.body.projectId]).toEqual([201, projectB]);
    groupB = b.body.id as string;
    const dup = await send(groupsRoute.POST as Handler, "POST", {}, "opA", { name: "web", projectId: projectA });
    expect(dup.status).toBe(409);
    const foreign = await send(groupsRoute.POST as Handler, "POST", {}, "opA", { name: "x", projectId: projectB });
    expect(foreign.status).toBe(404);
    // names in any script (ADR 056), NFC-normalised; control characters refused with the field named
    const zh = await send(groupsRoute.POST as Handler, "POST", {}, "opA", {
      name: " 数据库-入站 ",
      projectId: projectA,
    });
    expect([zh.status, zh.body.name]).toEqual([201, "数据库-入站"]);
    expect((await send(groupRoute.DELETE as Handler, "DELETE", { id: zh.body.id as string }, "opA")).status).toBe(200);
    const control = await send(groupsRoute.POST as Handler, "POST", {}, "opA", {
      name: "bad\nname",
      projectId: projectA,
    });
    expect([control.status, control.body.error?.message]).toEqual([400, expect.stringMatching(/name.*control/)]);
    const badRule = await send(rulesRoute.POST as Handler, "POST", { id: groupA }, "opA", {
      direction: "in",
      protocol: "icmp",
      portMin: 22,
      portMax: 22,
    });
    expect([badRule.status, badRule.body.error?.message]).toEqual([400, expect.stringMatching(/tcp and udp/)]);
    const badCidr = await send(rulesRoute.POST as Handler, "POST", { id: groupA }, "opA", {
      direction: "in",
      protocol: "tcp",
      remoteCidr: "10.0.0.1/8",
    });
    expect(badCidr.status).toBe(400);
    const crossRemote = await send(rulesRoute.POST as Handler, "POST", { id: groupA }, "opA", {
      direction: "in",
      protocol: "tcp",
      remoteGroupId: groupB,
    });
    expect([crossRemote.status, crossRemote.body.error?.message]).toEqual([
      400,
      expect.stringMatching(/not a security group of this/),
    ]);
    const ssh = await send(rulesRoute.POST as Handler, "POST", { id: groupA }, "opA", {
      direction: "in",
      protocol: "tcp",
      portMin: 22,
      portMax: 22,
      remoteCidr: "10.0.0.0/8",
    });
    expect(ssh.status).toBe(201);
    ruleA = ssh.body.id as string;
    const self = await send(rulesRoute.POST as Handler, "POST", { id: groupA }, "opA", {
      direction: "in",
      protocol: "any",
      remoteGroupId: groupA,
    });
    expect(self.status).toBe(201);
  });

  it("every write: a viewer gets 403, another project's operator 404, a cross-site page 403/415; nothing changes", async () => {
    const writes = [
      ["POST /security-groups", groupsRoute.POST, "POST", {}, { name: "new", projectId: projectA }],
      ["DELETE /security-groups/:id", groupRoute.DELETE, "DELETE", { id: groupA }, undefined],
      [
        "POST /security-groups/:id/rules",
        rulesRoute.POST,
        "POST",
        { id: groupA },
        { direction: "in", protocol: "any" },
      ],
      [
        "DELETE /security-groups/:id/rules/:ruleId",
        ruleRoute.DELETE,
        "DELETE",
        { id: groupA, ruleId: ruleA },
        undefined,
      ],
      ["PUT /vms/:id/security-groups", vmGroupsRoute.PUT, "PUT", { id: vmA }, { securityGroupIds: [groupA] }],
    ] as const;
    const before = await state();
    for (const [name, handler, method, params, body] of writes) {
      const viewer = await send(handler as Handler, method, params, "viewerA", body);
      expect([name, viewer.status, viewer.body.error?.code]).toEqual([name, 403, "forbidden"]);
      if (name !== "POST /security-groups") {
        const other = await send(handler as Handler, method, params, "opB", body);
        expect([name, other.status, other.body.error?.code]).toEqual([name, 404, "not_found"]);
      }
      const cross = await send(handler as Handler, method, params, "cross-site", body ?? {});
      expect([name, cross.status, cross.body.error?.message]).toEqual([
        name,
        403,
        expect.stringMatching(/^Cross-site request refused: /),
      ]);
      if (body !== undefined) {
        const text = await send(handler as Handler, method, params, "cross-site-text", body);
        expect([name, text.status]).toEqual([name, 415]);
      }
    }
    expect(await state()).toEqual(before);
  });

  it("reads are project-scoped: members see their groups, other projects get 404 / an empty list", async () => {
    const list = await send(groupsRoute.GET as Handler, "GET", {}, "viewerA");
    expect((list.body.items as { name: string }[]).map((g) => g.name)).toEqual(["web"]);
    expect((await send(groupsRoute.GET as Handler, "GET", {}, "admin")).body.total).toBe(2);
    expect((await send(groupRoute.GET as Handler, "GET", { id: groupA }, "opB")).status).toBe(404);
    const rules = await send(rulesRoute.GET as Handler, "GET", { id: groupA }, "viewerA");
    expect(rules.body.total).toBe(3);
    expect((await send(rulesRoute.GET as Handler, "GET", { id: groupA }, "opB")).status).toBe(404);
    expect((await send(vmGroupsRoute.GET as Handler, "GET", { id: vmA }, "opB")).status).toBe(404);
  });

  it("a VM takes only its own project's groups; its firewall is the union of their rules", async () => {
    const foreign = await send(vmGroupsRoute.PUT as Handler, "PUT", { id: vmA }, "admin", {
      securityGroupIds: [groupB],
    });
    expect([foreign.status, foreign.body.error?.code]).toEqual([403, "forbidden"]);
    const missing = await send(vmGroupsRoute.PUT as Handler, "PUT", { id: vmA }, "opA", { securityGroupIds: ["nope"] });
    expect(missing.status).toBe(404);
    expect(await db().vmSecurityGroup.count()).toBe(0);
    const ok = await send(vmGroupsRoute.PUT as Handler, "PUT", { id: vmA }, "opA", { securityGroupIds: [groupA] });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ vmId: vmA, securityGroupIds: [groupA], sync: { applied: 0, failed: [] } });
    expect((await send(vmGroupsRoute.GET as Handler, "GET", { id: vmA }, "viewerA")).body.securityGroupIds).toEqual([
      groupA,
    ]);
    // vm-a has no NIC: the self-referencing rule names no address and so matches nothing.
    expect(await firewallForVm(vmA)).toEqual({
      rules: [
        { direction: "out", protocol: "any", remoteCidrs: ["0.0.0.0/0"] },
        { direction: "in", protocol: "tcp", portMin: 22, portMax: 22, remoteCidrs: ["10.0.0.0/8"] },
        { direction: "in", protocol: "any", remoteCidrs: [] },
      ],
    });
    const inUse = await send(groupRoute.DELETE as Handler, "DELETE", { id: groupA }, "opA");
    expect(inUse.status).toBe(409);
    const del = await send(ruleRoute.DELETE as Handler, "DELETE", { id: groupA, ruleId: ruleA }, "opA");
    expect(del.status).toBe(200);
    expect((await firewallForVm(vmA))?.rules).toHaveLength(2);
    expect((await send(vmGroupsRoute.PUT as Handler, "PUT", { id: vmA }, "opA", { securityGroupIds: [] })).status).toBe(
      200,
    );
    expect(await firewallForVm(vmA)).toBeNull();
    expect((await send(groupRoute.DELETE as Handler, "DELETE", { id: groupA }, "opA")).status).toBe(200);
    const audit = await db().auditEvent.findMany({ where: { targetType: "securityGroup", result: "denied" } });
    expect(audit.length).toBeGreaterThan(0);
  });
});
