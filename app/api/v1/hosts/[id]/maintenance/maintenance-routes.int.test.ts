// POST/DELETE /api/v1/hosts/:id/maintenance and PATCH /api/v1/vms/:id {ha} over HTTP semantics,
// against the REAL route handlers and fresh databases. Maintenance is the cloud operator's call:
// an operator gets 403, a cross-site page with the admin's cookie 403, an unknown host 404, and
// nothing changes. The admin's evacuation of a host whose VMs cannot move ends failed, naming each
// VM that stayed with the preview's reason; a second evacuation while one runs is 409.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "@/lib/server/testing/server-db";
import type { TestDatabase } from "@/prisma/test-db";
import { db, type Actor } from "@/lib/server/platform";
import { createToken, createUser } from "@/lib/server/identity";
import { addProjectMember, createProject } from "@/lib/server/projects";
import { insertTestHost, insertTestImage } from "@/lib/server/testing/rows";
import { POST as authPost } from "@/app/api/auth/[...all]/route";
import { sessionCookie } from "@/lib/server/testing/session-cookie";
import * as maintenanceRoute from "@/app/api/v1/hosts/[id]/maintenance/route";
import * as vmRoute from "@/app/api/v1/vms/[id]/route";

const SELF = "http://localhost:3000";
const FOREIGN = "http://localhost:8080";
type Handler = (req: Request, ctx: { params: Promise<never> }) => Promise<Response>;

describe.each(PROVIDERS)("maintenance and HA routes on %s", (provider) => {
  let database: TestDatabase | undefined;
  const tokens: Record<"admin" | "opA" | "opB" | "viewerA", string> = { admin: "", opA: "", opB: "", viewerA: "" };
  let cookie = "";
  let hostId = "";
  let runningVm = "";
  let brokenVm = "";
  const savedPublicUrl = process.env.POLYARCH_PUBLIC_URL;

  beforeAll(async () => {
    vi.spyOn(console, "log").mockImplementation(() => undefined);
    process.env.POLYARCH_PUBLIC_URL = SELF;
    database = await useFreshDatabase(provider);
    const { id: adminId } = await createUser({
      email: "admin@mt.test",
      name: "Admin",
      role: "admin",
      password: "admin-password-1",
    });
    const admin: Actor = { id: adminId, email: "admin@mt.test", name: "Admin", role: "admin", via: "session" };
    const who = { actor: admin, clientIp: null };
    const projectA = (await createProject({ name: "alpha", description: null }, who)).id;
    const projectB = (await createProject({ name: "beta", description: null }, who)).id;
    tokens.admin = (await createToken(admin, "t", 0, null)).token;
    for (const [key, role, project] of [
      ["opA", "operator", projectA],
      ["opB", "operator", projectB],
      ["viewerA", "viewer", projectA],
    ] as const) {
      const email = `${key.toLowerCase()}@mt.test`;
      const { id } = await createUser({ email, name: key, role, password: "member-password-1" }, who);
      await addProjectMember(project, { userId: id }, who);
      tokens[key] = (await createToken({ id, email, name: key, role, via: "session" }, "t", 0, null)).token;
    }
    // host-a (x86_64) holds the VMs; the only other host is aarch64-only: nothing of host-a can go there.
    hostId = (await insertTestHost({ name: "host-a", lastHeartbeatAt: new Date() })).id;
    await insertTestHost({
      name: "arm-b",
      arch: "aarch64",
      nativeArches: '["aarch64"]',
      lastHeartbeatAt: new Date(),
    });
    const image = await insertTestImage();
    const vm = (name: string, status: string) =>
      db().vm.create({
        data: {
          name,
          arch: "x86_64",
          vcpus: 1,
          memoryMb: 256,
          diskGb: 1,
          imageId: image.id,
          hostId,
          projectId: projectA,
          status,
          powerState: status === "running" ? "running" : "unknown",
        },
      });
    runningVm = (await vm("vm-run", "running")).id;
    brokenVm = (await vm("vm-broken", "error")).id;

    cookie = await sessionCookie(authPost, SELF, "admin@mt.test", "admin-password-1");
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
    as: keyof typeof tokens | "cross-site",
    body?: unknown,
  ) {
    const headers = new Headers({ host: "localhost:3000" });
    if (as === "cross-site") headers.set("origin", FOREIGN);
    if (as === "cross-site") headers.set("cookie", cookie);
    else headers.set("authorization", `Bearer ${tokens[as]}`);
    if (body !== undefined)
      headers.set("content-type", as === "cross-site" ? "text/plain;charset=UTF-8" : "application/json");
    const res = await handler(
      new Request(`${SELF}/api/v1/x`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }),
      { params: Promise.resolve(params) as Promise<never> },
    );
    return {
      status: res.status,
      body: (await res.json()) as { error?: { code: string; message: string } } & Record<string, unknown>,
    };
  }

  const hostState = () =>
    db()
      .host.findUniqueOrThrow({ where: { id: hostId }, select: { adminState: true } })
      .then((h) => h.adminState);
  const post = maintenanceRoute.POST as Handler;
  const del = maintenanceRoute.DELETE as Handler;

  it("operators 403, cross-site 403, unknown host 404; nothing changes", async () => {
    for (const [handler, method, body] of [
      [post, "POST", { evacuate: true }],
      [del, "DELETE", undefined],
    ] as const) {
      for (const who of ["opA", "viewerA"] as const) {
        const r = await send(handler, method, { id: hostId }, who, body);
        expect([method, who, r.status, r.body.error?.code]).toEqual([method, who, 403, "forbidden"]);
      }
      const cross = await send(handler, method, { id: hostId }, "cross-site", body ?? {});
      expect([method, cross.status, cross.body.error?.message]).toEqual([
        method,
        403,
        expect.stringMatching(/^Cross-site request refused: /),
      ]);
      const missing = await send(handler, method, { id: "no-such-host" }, "admin", body);
      expect([method, missing.status, missing.body.error?.code]).toEqual([method, 404, "not_found"]);
    }
    const bad = await send(post, "POST", { id: hostId }, "admin", { evacuate: "yes" });
    expect([bad.status, bad.body.error?.code]).toEqual([400, "invalid"]);
    expect(await hostState()).toBe("enabled");
    expect(await db().task.count({ where: { kind: "host.evacuate" } })).toBe(0);
  });

  it("evacuating a host whose VMs cannot move: 202, then a failed task naming each VM with its reason", async () => {
    const r = await send(post, "POST", { id: hostId }, "admin", { evacuate: true });
    expect(r.status).toBe(202);
    const taskId = (r.body.task as { id: string }).id;
    expect(await hostState()).toBe("maintenance");
    let task = await db().task.findUniqueOrThrow({ where: { id: taskId }, include: { steps: true } });
    for (let i = 0; i < 400 && task.status === "running"; i++) {
      await new Promise((res) => setTimeout(res, 50));
      task = await db().task.findUniqueOrThrow({ where: { id: taskId }, include: { steps: true } });
    }
    expect([task.kind, task.hostId, task.status, task.progress]).toEqual(["host.evacuate", hostId, "failed", 100]);
    expect(task.error).toBe("2 VM(s) stayed on the host: vm-broken, vm-run");
    const steps = Object.fromEntries(
      [...task.steps].sort((a, b) => a.position - b.position).map((s) => [s.name, [s.status, s.message]]),
    );
    expect(steps["vm-run"]).toEqual(["failed", expect.stringMatching(/^no host can take it: arm-b: .*aarch64/)]);
    expect(steps["vm-broken"]).toEqual(["failed", expect.stringMatching(/vm-broken is error/)]);
    expect(JSON.parse(task.result!)).toEqual({ moved: 0, stayed: ["vm-broken", "vm-run"] });
    // Nothing moved.
    expect(await db().vm.count({ where: { hostId } })).toBe(2);
  });

  it("409 while an evacuation of the host runs; without evacuate 200; DELETE puts the host back in service", async () => {
    const running = await db().task.create({ data: { kind: "host.evacuate", hostId, status: "running" } });
    const busy = await send(post, "POST", { id: hostId }, "admin", { evacuate: true });
    expect([busy.status, busy.body.error?.message]).toEqual([
      409,
      `Host host-a is already being evacuated (task ${running.id}).`,
    ]);
    await db().task.update({ where: { id: running.id }, data: { status: "failed" } });
    const plain = await send(post, "POST", { id: hostId }, "admin", { evacuate: false });
    expect([plain.status, plain.body.task, (plain.body.host as { adminState: string }).adminState]).toEqual([
      200,
      null,
      "maintenance",
    ]);
    const out = await send(del, "DELETE", { id: hostId }, "admin");
    expect([out.status, (out.body.host as { adminState: string }).adminState]).toEqual([200, "enabled"]);
    const audit = await db().auditEvent.findMany({
      where: { targetId: hostId, action: { startsWith: "host.maintenance" }, result: { not: "denied" } },
      orderBy: { createdAt: "asc" },
      select: { action: true, result: true },
    });
    expect(audit.map((a) => `${a.action}:${a.result}`)).toEqual([
      "host.maintenance:success",
      "host.maintenance:error",
      "host.maintenance:success",
      "host.maintenance.exit:success",
    ]);
  });

  it("PATCH /vms/:id {ha}: viewers 403, other projects 404, cross-site 403; bad body 400; an unreachable host keeps HA off", async () => {
    const patch = vmRoute.PATCH as Handler;
    expect((await send(patch, "PATCH", { id: runningVm }, "viewerA", { ha: true })).status).toBe(403);
    expect((await send(patch, "PATCH", { id: runningVm }, "opB", { ha: true })).status).toBe(404);
    expect((await send(patch, "PATCH", { id: runningVm }, "cross-site", { ha: true })).status).toBe(403);
    expect((await send(patch, "PATCH", { id: runningVm }, "opA", { ha: "on" })).status).toBe(400);
    expect((await send(patch, "PATCH", { id: runningVm }, "opA", { ha: true, name: "x" })).status).toBe(400);
    // The VM's host has no agent listening: its watchdog cannot be told, so HA stays off (503).
    const down = await send(patch, "PATCH", { id: runningVm }, "opA", { ha: true });
    expect([down.status, down.body.error?.code]).toEqual([503, "unavailable"]);
    // An error VM is refused with the reason; with HA already as asked, nothing to do.
    const broken = await send(patch, "PATCH", { id: brokenVm }, "opA", { ha: true });
    expect([broken.status, broken.body.error?.message]).toEqual([
      409,
      "HA changes on a running or stopped VM; vm-broken is error.",
    ]);
    const same = await send(patch, "PATCH", { id: runningVm }, "opA", { ha: false });
    expect([same.status, same.body.ha, same.body.id]).toEqual([200, false, runningVm]);
    expect(await db().vm.count({ where: { ha: true } })).toBe(0);
  });
});
