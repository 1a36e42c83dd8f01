// The VM server actions against a real database and a stand-in agent: they run the same
// lib/server/vms code as the JSON API (same placement, tasks, audit and errors), answer what the API
// answers, and refuse a wrong role themselves, whatever the page shows.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "@/lib/server/testing/server-db";
import type { TestDatabase } from "@/prisma/test-db";
import { db, type Actor } from "@/lib/server/platform";
import { createToken } from "@/lib/server/identity";
import { addUserToProjects, createProject } from "@/lib/server/projects";
import type { Role } from "@/lib/permissions";
import { createVmResultSchema, vmDtoSchema } from "@/lib/schemas/api";
import { POST as createRoute } from "@/app/api/v1/vms/route";
import { POST as actionRoute } from "@/app/api/v1/vms/[id]/actions/route";
import { DELETE as deleteRoute } from "@/app/api/v1/vms/[id]/route";
import {
  createVmAction,
  deleteVmAction,
  poweroffVmAction,
  rebootVmAction,
  retryVmAction,
  startVmAction,
  stopVmAction,
} from "./actions";
import { insertTestHost, insertTestImage } from "@/lib/server/testing/rows";

// The request a server action runs in: its headers (who is calling), and what it revalidated.
const request = vi.hoisted(() => ({ headers: new Headers(), revalidated: [] as string[] }));
vi.mock("next/headers", () => ({ headers: async () => request.headers }));
vi.mock("next/cache", () => ({ revalidatePath: (path: string) => void request.revalidated.push(path) }));
// Next answers these with a 401/403 response; here they throw a recognisable error.
vi.mock("next/navigation", async (original) => ({
  ...(await original<typeof import("next/navigation")>()),
  unauthorized: () => {
    throw new Error("NEXT_UNAUTHORIZED");
  },
  forbidden: () => {
    throw new Error("NEXT_FORBIDDEN");
  },
}));

/** Agent stand-in: creates, operates and deletes VMs as a real agent answers (power state only). */
class StubAgent {
  server!: http.Server;
  url = "";
  failPut = false;
  calls: string[] = [];
  async start() {
    this.server = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        this.calls.push(`${req.method} ${req.url}`);
        const id = decodeURIComponent((req.url ?? "").split("/")[3] ?? "");
        const answer = (status: number, json: unknown) =>
          res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(json));
        const vm = (powerState: string) => ({
          id,
          name: "vm",
          arch: "x86_64",
          powerState,
          emulated: false,
          accel: "kvm",
          vcpus: 1,
          memoryMb: 256,
        });
        if (req.method === "PUT")
          return this.failPut
            ? answer(500, { error: { code: "internal", message: "qemu failed to start" } })
            : answer(200, vm("running"));
        if (req.method === "POST") {
          const { action } = JSON.parse(body) as { action: string };
          return answer(200, vm(action === "stop" || action === "poweroff" ? "shutoff" : "running"));
        }
        if (req.method === "DELETE") return answer(200, {});
        answer(404, { error: { code: "not_found", message: "no such endpoint" } });
      });
    });
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  async stop() {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

describe.each(PROVIDERS)("VM server actions on %s", (provider) => {
  let database: TestDatabase | undefined;
  const agent = new StubAgent();
  const tokens: Record<string, string> = {};
  let imageId: string, projectId: string;

  beforeAll(() => agent.start());
  afterAll(() => agent.stop());

  async function user(email: string, role: Role, projectIds: string[]): Promise<Actor> {
    const u = await db().user.create({ data: { id: `u-${email.split("@")[0]}`, email, name: email, role } });
    await addUserToProjects(u.id, projectIds);
    const actor: Actor = { id: u.id, email, name: email, role, via: "token" };
    tokens[email] = (await createToken(actor, "test", 0, null)).token;
    return actor;
  }

  const bearer = (email: string) =>
    new Headers({ authorization: `Bearer ${tokens[email]}`, "x-polyarch-client-ip": "10.0.0.7" }); // as server/client-address.ts sets it
  /** Runs the next server action as this user. */
  const as = (email: string | null) => {
    request.headers = email ? bearer(email) : new Headers();
  };
  const api = (email: string, method: string, url: string, body?: unknown) =>
    new Request(`http://localhost${url}`, {
      method,
      headers: { authorization: `Bearer ${tokens[email]}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const ctx = <P extends Record<string, string>>(params: P) => ({ params: Promise.resolve(params) });

  const vmInput = (name: string) => ({
    name,
    arch: "x86_64",
    imageId,
    vcpus: 1,
    memoryMb: 256,
    diskGb: 1,
    networkId: null,
    projectId,
  });

  /** Provisioning runs after the create answers (202): wait for its task to end. */
  async function provisioned(vmId: string) {
    for (let i = 0; i < 200; i++) {
      const task = await db().task.findFirst({ where: { vmId, kind: "vm.create" }, orderBy: { createdAt: "desc" } });
      if (task && task.status !== "running") return task.status;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error("provisioning did not finish");
  }

  async function createdVm(name: string) {
    as("op@t.test");
    const r = await createVmAction(vmInput(name));
    if (!r.ok) throw new Error(r.error);
    await provisioned(r.data.vm.id);
    return r.data.vm.id;
  }

  beforeEach(async () => {
    database = await useFreshDatabase(provider);
    request.revalidated = [];
    agent.failPut = false;
    agent.calls = [];
    const admin = await user("admin@t.test", "admin", []);
    projectId = (await createProject({ name: "lab", description: null }, { actor: admin, clientIp: null })).id;
    await user("op@t.test", "operator", [projectId]);
    await user("viewer@t.test", "viewer", [projectId]);
    await user("outsider@t.test", "operator", []);
    await insertTestHost({ agentUrl: agent.url });
    imageId = (await insertTestImage()).id;
  });
  afterEach(async () => {
    await releaseDatabase(database);
  });

  it("create: placed, recorded, audited and provisioned like POST /api/v1/vms, and answers the same JSON shape", async () => {
    as("op@t.test");
    const r = await createVmAction(vmInput("by-action"));
    expect(r.ok, JSON.stringify(r)).toBe(true);
    if (!r.ok) return;
    // What the JSON API sends (timestamps as ISO strings), valid against the documented schema.
    expect(createVmResultSchema.strict().parse(r.data)).toEqual(r.data);
    expect(typeof r.data.vm.createdAt).toBe("string");
    expect(r.data).toMatchObject({
      vm: { name: "by-action", project: { id: projectId, name: "lab" } },
      host: { name: "h1" },
    });
    expect(await provisioned(r.data.vm.id)).toBe("succeeded");
    expect((await db().vm.findUniqueOrThrow({ where: { id: r.data.vm.id } })).status).toBe("running");
    expect(request.revalidated).toContain("/vms");

    const res = await createRoute(api("op@t.test", "POST", "/api/v1/vms", vmInput("by-api")), ctx({}));
    expect(res.status).toBe(202);
    const body = await res.json();
    await provisioned(body.vm.id);
    expect(Object.keys(body).sort()).toEqual(Object.keys(r.data).sort());
    expect(Object.keys(body.vm).sort()).toEqual(Object.keys(r.data.vm).sort());
    // One audit trail for both paths: the same action, actor, client address and outcome.
    const audit = await db().auditEvent.findMany({ where: { action: "vm.create" }, orderBy: { createdAt: "asc" } });
    expect(audit.map((a) => [a.userEmail, a.result, a.clientIp])).toEqual([
      ["op@t.test", "success", "10.0.0.7"],
      ["op@t.test", "success", null],
    ]);
  });

  it("stop, start, reboot, power off: a task on the host each, audited; the action and the API answer the same VM", async () => {
    const id = await createdVm("ops");
    const steps: Array<[typeof stopVmAction, string]> = [
      [stopVmAction, "stopped"],
      [startVmAction, "running"],
      [rebootVmAction, "running"],
      [poweroffVmAction, "stopped"],
    ];
    for (const [action, status] of steps) {
      const r = await action({ id });
      expect(r.ok, JSON.stringify(r)).toBe(true);
      if (r.ok) expect(vmDtoSchema.strict().parse(r.data)).toMatchObject({ id, status });
    }
    const tasks = await db().task.findMany({ where: { vmId: id }, orderBy: { createdAt: "asc" } });
    expect(tasks.map((t) => [t.kind, t.status])).toEqual([
      ["vm.create", "succeeded"],
      ["vm.stop", "succeeded"],
      ["vm.start", "succeeded"],
      ["vm.reboot", "succeeded"],
      ["vm.poweroff", "succeeded"],
    ]);
    expect(agent.calls.filter((c) => c.startsWith("POST"))).toHaveLength(4);

    const viaAction = await startVmAction({ id });
    await stopVmAction({ id });
    const res = await actionRoute(
      api("op@t.test", "POST", `/api/v1/vms/${id}/actions`, { action: "start" }),
      ctx({ id }),
    );
    expect(res.status).toBe(200);
    const viaApi = await res.json();
    if (!viaAction.ok) throw new Error(viaAction.error);
    // The same VM, as the same JSON (only the last update's time differs).
    expect(viaApi).toEqual({ ...viaAction.data, updatedAt: expect.any(String) });
    const audit = await db().auditEvent.findMany({ where: { targetId: id, action: "vm.start" } });
    expect(audit.map((a) => [a.userEmail, a.result])).toEqual([
      ["op@t.test", "success"],
      ["op@t.test", "success"],
      ["op@t.test", "success"],
    ]);
  });

  it("the same refusal, code and message on both paths; nothing is changed", async () => {
    const id = await createdVm("refused");
    await stopVmAction({ id });
    const before = await db().task.count({ where: { vmId: id } });
    const viaAction = await rebootVmAction({ id });
    expect(viaAction).toEqual({ ok: false, code: "conflict", error: "Cannot reboot a VM that is stopped." });
    const res = await actionRoute(
      api("op@t.test", "POST", `/api/v1/vms/${id}/actions`, { action: "reboot" }),
      ctx({ id }),
    );
    expect(res.status).toBe(409);
    expect(await res.json()).toEqual({ error: { code: "conflict", message: "Cannot reboot a VM that is stopped." } });
    expect(await db().task.count({ where: { vmId: id } })).toBe(before);
  });

  it("retry re-places a VM whose creation failed; delete removes it like DELETE /api/v1/vms/:id", async () => {
    agent.failPut = true;
    const id = await createdVm("flaky");
    expect(await db().vm.findUniqueOrThrow({ where: { id } })).toMatchObject({
      status: "error",
      hostId: null,
      lastError: expect.stringContaining("qemu failed to start"),
    });
    agent.failPut = false;
    const r = await retryVmAction({ id });
    expect(r.ok, JSON.stringify(r)).toBe(true);
    expect(await provisioned(id)).toBe("succeeded");
    expect((await db().vm.findUniqueOrThrow({ where: { id } })).status).toBe("running");

    expect(await deleteVmAction({ id })).toEqual({ ok: true, data: { id, deleted: true } });
    expect(await db().vm.findUnique({ where: { id } })).toBeNull();
    expect((await db().host.findFirstOrThrow()).allocatedCpus).toBe(0);
    const other = await createdVm("other");
    const res = await deleteRoute(api("op@t.test", "DELETE", `/api/v1/vms/${other}`), ctx({ id: other }));
    expect(await res.json()).toEqual({ id: other, deleted: true });
    expect(
      (await db().auditEvent.findMany({ where: { action: "vm.delete", result: "success" } })).map((a) => a.userEmail),
    ).toEqual(["op@t.test", "op@t.test"]);
  });

  it("a viewer is refused by each action itself (403, audited as denied); nothing is created, run or deleted", async () => {
    const id = await createdVm("guarded");
    const tasksBefore = await db().task.count();
    agent.calls = [];
    as("viewer@t.test");
    await expect(createVmAction(vmInput("sneaky"))).rejects.toThrow("NEXT_FORBIDDEN");
    for (const action of [
      startVmAction,
      stopVmAction,
      rebootVmAction,
      poweroffVmAction,
      retryVmAction,
      deleteVmAction,
    ]) {
      await expect(action({ id })).rejects.toThrow("NEXT_FORBIDDEN");
    }
    expect(await db().vm.count({ where: { name: "sneaky" } })).toBe(0);
    expect(await db().task.count()).toBe(tasksBefore);
    expect((await db().vm.findUniqueOrThrow({ where: { id } })).status).toBe("running");
    expect(agent.calls).toEqual([]);
    const denied = await db().auditEvent.findMany({ where: { userEmail: "viewer@t.test", result: "denied" } });
    expect(denied.map((d) => d.action).sort()).toEqual([
      "vm.create",
      "vm.delete",
      "vm.poweroff",
      "vm.reboot",
      "vm.retry",
      "vm.start",
      "vm.stop",
    ]);
    expect(denied.filter((d) => d.action !== "vm.create").every((d) => d.targetId === id)).toBe(true);
  });

  it("an operator outside the VM's project gets not found; a signed-out call 401; bad input the schema's field errors", async () => {
    const id = await createdVm("private");
    as("outsider@t.test");
    expect(await stopVmAction({ id })).toMatchObject({ ok: false, code: "not_found" });
    expect(await deleteVmAction({ id })).toMatchObject({ ok: false, code: "not_found" });
    as(null);
    await expect(stopVmAction({ id })).rejects.toThrow("NEXT_UNAUTHORIZED");
    as("op@t.test");
    // Names are display names in any script (issue 17): a line break is still refused.
    const bad = await createVmAction({ ...vmInput("bad\nname"), vcpus: 0 });
    expect(bad).toMatchObject({
      ok: false,
      code: "invalid",
      fieldErrors: { name: expect.stringContaining("control characters"), vcpus: "at least 1 vCPU" },
    });
    expect((await db().vm.findUniqueOrThrow({ where: { id } })).status).toBe("running");
  });
});
