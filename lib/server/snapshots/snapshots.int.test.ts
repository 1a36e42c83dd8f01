// Snapshots through the real route handlers (Bearer API tokens of real users), on SQLite and
// PostgreSQL, against an agent stand-in served over real HTTPS with a certificate from the
// controller's CA (lib/server/testing/snapshot-agent.ts): the host-disk claim (ADR 033) and its
// release, the 409s, viewer / other-project / cross-site refusals that change nothing, tasks with
// named steps and audit records, and a VM delete giving its snapshots' claims back.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import type { TestDatabase } from "../../../prisma/test-db";
import { db, type Actor } from "../platform";
import type { Role } from "../../permissions";
import { createToken } from "../identity";
import { hostTokenFor } from "../hosts";
import { addUserToProjects, createProject } from "../projects";
import { deleteVm } from "../vms";
import { insertTestHost } from "../testing/rows";
import { startStubAgent, type StubAgent } from "../testing/snapshot-agent";
import { GET as listRoute, POST as createRoute } from "../../../app/api/v1/vms/[id]/snapshots/route";
import { DELETE as deleteRoute } from "../../../app/api/v1/vms/[id]/snapshots/[sid]/route";
import { POST as revertRoute } from "../../../app/api/v1/vms/[id]/snapshots/[sid]/revert/route";
import { POST as captureRoute } from "../../../app/api/v1/vms/[id]/capture/route";

type Handler = (req: Request, ctx: { params: Promise<never> }) => Promise<Response>;

async function user(email: string, role: Role, projectIds: string[]): Promise<{ actor: Actor; token: string }> {
  const u = await db().user.create({ data: { id: `u-${email.split("@")[0]}`, email, name: email, role } });
  await addUserToProjects(u.id, projectIds);
  const actor: Actor = { id: u.id, email, name: email, role, via: "session" };
  return { actor, token: (await createToken(actor, "test", 0, null)).token };
}

async function call(
  handler: Handler,
  method: string,
  path: string,
  params: Record<string, string>,
  auth: { token?: string; headers?: Record<string, string> },
  body?: unknown,
) {
  const headers: Record<string, string> = { host: "localhost:3000", ...auth.headers };
  if (auth.token) headers.authorization = `Bearer ${auth.token}`;
  if (body !== undefined) headers["content-type"] ??= "application/json";
  const res = await handler(
    new Request(`http://localhost:3000${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    }),
    { params: Promise.resolve(params) as Promise<never> },
  );
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & { error?: { message: string } } };
}

describe.each(PROVIDERS)("VM snapshots on %s", (provider) => {
  let database: TestDatabase | undefined;
  let agent: StubAgent;
  let hostId = "";
  let op: { actor: Actor; token: string };
  let viewer: { actor: Actor; token: string };
  let outsider: { actor: Actor; token: string };
  let running = "";
  let stopped = "";

  const snaps = (vmId: string) => `/api/v1/vms/${vmId}/snapshots`;
  const allocated = async () => (await db().host.findUniqueOrThrow({ where: { id: hostId } })).allocatedDiskGb;
  /** Everything a refused request must leave alone. */
  const world = async () => ({
    allocated: await allocated(),
    snapshots: await db().snapshot.findMany({ orderBy: { id: "asc" }, select: { id: true, status: true } }),
    vms: await db().vm.findMany({ orderBy: { id: "asc" }, select: { id: true, status: true } }),
    images: await db().image.count(),
    tasks: await db().task.count(),
    agentActions: agent.actions().length,
  });

  beforeAll(async () => {
    vi.spyOn(console, "log").mockImplementation(() => {}); // each cross-site refusal logs a line
    database = await useFreshDatabase(provider);
    const admin = await user("admin@snap.test", "admin", []);
    const who = { actor: admin.actor, clientIp: null };
    const lab = (await createProject({ name: "lab", description: null }, who)).id;
    const other = (await createProject({ name: "other", description: null }, who)).id;
    op = await user("op@snap.test", "operator", [lab]);
    viewer = await user("viewer@snap.test", "viewer", [lab]);
    outsider = await user("outsider@snap.test", "operator", [other]);
    const host = await insertTestHost({ diskGb: 40, allocatedDiskGb: 16, reservedDiskGb: 0 });
    hostId = host.id;
    agent = await startStubAgent(host.id, () => hostTokenFor(host.id, 0));
    agent.powerOf = (vmId) => (vmId === running ? "running" : "shutoff");
    await db().host.update({
      where: { id: host.id },
      data: { agentUrl: agent.url, certFingerprint: agent.fingerprint, tokenGeneration: 0 },
    });
    const vm = (name: string, status: string) =>
      db().vm.create({
        data: {
          name,
          arch: "x86_64",
          vcpus: 1,
          memoryMb: 2048,
          diskGb: 8,
          hostId: host.id,
          status,
          powerState: status === "running" ? "running" : "shutoff",
          projectId: lab,
        },
      });
    running = (await vm("web", "running")).id;
    stopped = (await vm("db", "stopped")).id;
  });

  afterAll(async () => {
    await agent?.stop();
    await releaseDatabase(database);
    vi.restoreAllMocks();
  });

  it("a disk snapshot claims a quarter of the disk on the host, as a task with named steps and an audit record", async () => {
    const before = await allocated();
    const r = await call(createRoute, "POST", snaps(running), { id: running }, op, { name: "clean" });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body).toMatchObject({ name: "clean", memory: false, status: "ready", claimedDiskGb: 2, vmStateBytes: 0 });
    expect(await allocated()).toBe(before + 2);
    // The agent was asked with the Snapshot row's id.
    expect(agent.calls.at(-1)).toBe(`POST /v1/vms/${running}/snapshots {"id":"${r.body.id}","memory":false}`);
    const task = await db().task.findFirstOrThrow({
      where: { vmId: running, kind: "vm.snapshot.create" },
      include: { steps: { orderBy: { position: "asc" } } },
    });
    expect(task.status).toBe("succeeded");
    expect(task.steps.map((s) => [s.name, s.status])).toEqual([
      ["reserve disk", "succeeded"],
      ["save snapshot", "succeeded"],
    ]);
    expect(task.steps[0]!.message).toBe("2 GiB on h1");
    const audit = await db().auditEvent.findFirstOrThrow({
      where: { action: "vm.snapshot.create", result: "success" },
    });
    expect(audit.targetId).toBe(running);
    expect(audit.userId).toBe(op.actor.id);
  });

  it("a memory snapshot of a running VM also claims its RAM (2048 MiB = 2 GiB) and records the saved state size", async () => {
    const before = await allocated();
    const r = await call(createRoute, "POST", snaps(running), { id: running }, op, { name: "warm", memory: true });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body).toMatchObject({ memory: true, claimedDiskGb: 4, vmStateBytes: 123_456_789 });
    expect(await allocated()).toBe(before + 4);
  });

  it("viewers of the project list snapshots; the list is the controller's record, newest first", async () => {
    const r = await call(listRoute, "GET", snaps(running), { id: running }, viewer);
    expect(r.status).toBe(200);
    expect((r.body.items as { name: string }[]).map((s) => s.name)).toEqual(["warm", "clean"]);
  });

  it("409s that change nothing: memory of a stopped VM, a taken name, a snapshot that does not fit", async () => {
    let before = await world();
    const mem = await call(createRoute, "POST", snaps(stopped), { id: stopped }, op, { name: "m", memory: true });
    expect(mem.status).toBe(409);
    expect(mem.body.error!.message).toMatch(/memory snapshot saves a running guest's RAM, and this VM is stopped/);
    const dup = await call(createRoute, "POST", snaps(running), { id: running }, op, { name: "clean" });
    expect(dup.status).toBe(409);
    expect(dup.body.error!.message).toBe('VM web already has a snapshot named "clean".');
    expect(await world()).toEqual(before);

    // 16 (VMs) + 2 + 4 (snapshots) = 22 of 20 GiB would not fit: room is what is left, 0 GiB.
    await db().host.update({ where: { id: hostId }, data: { diskGb: 23 } });
    before = await world();
    const full = await call(createRoute, "POST", snaps(stopped), { id: stopped }, op, { name: "big" });
    expect(full.status).toBe(409);
    expect(full.body.error!.message).toMatch(
      /^Not enough disk on host h1 for this snapshot: it claims 2 GiB, the host has 1 GiB free \(23 GiB, 0 reserved, 22 allocated/,
    );
    const after = await world();
    // Nothing changed but the failed task that says why (and the agent was never asked).
    expect({ ...after, tasks: before.tasks }).toEqual(before);
    expect(after.tasks).toBe(before.tasks + 1);
    const task = await db().task.findFirstOrThrow({
      where: { vmId: stopped, kind: "vm.snapshot.create" },
      include: { steps: { orderBy: { position: "asc" } } },
    });
    expect(task.status).toBe("failed");
    expect(task.steps.map((s) => [s.name, s.status])).toEqual([
      ["reserve disk", "failed"],
      ["save snapshot", "skipped"],
    ]);
    await db().host.update({ where: { id: hostId }, data: { diskGb: 40 } });
  });

  it("when the host refuses the snapshot, its row and its claim are gone and the reason reaches the caller", async () => {
    const before = await world();
    agent.failNext = { status: 409, message: "the VM's disk is busy" };
    const r = await call(createRoute, "POST", snaps(stopped), { id: stopped }, op, { name: "nope" });
    expect(r.status).toBe(409);
    expect(r.body.error!.message).toBe("Host h1: the VM's disk is busy");
    const after = await world();
    expect(after.allocated).toBe(before.allocated);
    expect(after.snapshots).toEqual(before.snapshots);
    const audit = await db().auditEvent.findFirstOrThrow({
      where: { action: "vm.snapshot.create", result: "error" },
      orderBy: { createdAt: "desc" },
    });
    expect(audit.details).toMatch(/disk is busy/);
  });

  it("a viewer may not create, revert, delete or capture (403); another project's operator sees nothing (404); nothing changes", async () => {
    const sid = (await db().snapshot.findFirstOrThrow({ where: { vmId: running, name: "clean" } })).id;
    const before = await world();
    const writes = (who: { token: string }) => [
      call(createRoute, "POST", snaps(running), { id: running }, who, { name: "x" }),
      call(revertRoute, "POST", `${snaps(running)}/${sid}/revert`, { id: running, sid }, who),
      call(deleteRoute, "DELETE", `${snaps(running)}/${sid}`, { id: running, sid }, who),
      call(captureRoute, "POST", `/api/v1/vms/${running}/capture`, { id: running }, who, {
        name: "img",
        snapshotId: sid,
      }),
    ];
    for (const r of await Promise.all(writes(viewer)))
      expect([r.status, r.body.error?.message]).toMatchObject([403, expect.any(String)]);
    for (const r of await Promise.all(writes(outsider))) {
      expect(r.status).toBe(404);
      expect(r.body.error!.message).toBe(`VM ${running} does not exist.`);
    }
    const list = await call(listRoute, "GET", snaps(running), { id: running }, outsider);
    expect(list.status).toBe(404);
    expect(await world()).toEqual(before);
    const denied = await db().auditEvent.count({ where: { result: "denied", targetId: running } });
    expect(denied).toBeGreaterThanOrEqual(8);
  });

  it("a cross-site browser write to each route is refused unread and changes nothing", async () => {
    const sid = (await db().snapshot.findFirstOrThrow({ where: { vmId: running, name: "clean" } })).id;
    const before = await world();
    const foreign = {
      headers: { cookie: "better-auth.session_token=x", origin: "http://localhost:8080", "content-type": "text/plain" },
    };
    const sameSite = { headers: { cookie: "better-auth.session_token=x", "sec-fetch-site": "same-site" } };
    for (const way of [foreign, sameSite]) {
      const answers = [
        await call(createRoute, "POST", snaps(running), { id: running }, way, { name: "x" }),
        await call(revertRoute, "POST", `${snaps(running)}/${sid}/revert`, { id: running, sid }, way),
        await call(deleteRoute, "DELETE", `${snaps(running)}/${sid}`, { id: running, sid }, way),
        await call(captureRoute, "POST", `/api/v1/vms/${running}/capture`, { id: running }, way, { name: "i" }),
      ];
      for (const r of answers) {
        expect(r.status).toBe(403);
        expect(r.body.error!.message).toMatch(/^Cross-site request refused: /);
      }
    }
    expect(await world()).toEqual(before);
  });

  it("the host's power state decides, not the controller's cached status", async () => {
    // A late heartbeat can leave a running VM shown as "creating": the host still says running.
    await db().vm.update({ where: { id: running }, data: { status: "creating" } });
    const ok = await call(createRoute, "POST", snaps(running), { id: running }, op, { name: "despite-cache" });
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
    await db().vm.update({ where: { id: running }, data: { status: "running" } });
    // A VM the host is still starting is refused with what the host says.
    agent.powerOf = () => "starting";
    const before = await world();
    const busy = await call(createRoute, "POST", snaps(running), { id: running }, op, { name: "too-early" });
    expect(busy.status).toBe(409);
    expect(busy.body.error!.message).toBe(
      "Cannot snapshot a VM that is starting on its host; wait until it is running or stopped.",
    );
    expect({ ...(await world()), tasks: before.tasks }).toEqual(before);
    agent.powerOf = (vmId) => (vmId === running ? "running" : "shutoff");
    const cleanup = await call(
      deleteRoute,
      "DELETE",
      `${snaps(running)}/${ok.body.id}`,
      { id: running, sid: String(ok.body.id) },
      op,
    );
    expect(cleanup.status).toBe(200);
  });

  it("a snapshot is reached only through its own VM: another VM's id answers 404", async () => {
    const sid = (await db().snapshot.findFirstOrThrow({ where: { vmId: running, name: "clean" } })).id;
    const r = await call(revertRoute, "POST", `${snaps(stopped)}/${sid}/revert`, { id: stopped, sid }, op);
    expect(r.status).toBe(404);
    expect(r.body.error!.message).toBe(`Snapshot ${sid} does not exist.`);
  });

  it("revert asks the host and answers the VM as it is afterwards", async () => {
    const sid = (
      await db()
        .snapshot.findFirstOrThrow({ where: { vmId: stopped } })
        .catch(() => null)
    )?.id;
    expect(sid).toBeUndefined();
    const made = await call(createRoute, "POST", snaps(stopped), { id: stopped }, op, { name: "base" });
    expect(made.status).toBe(201);
    agent.revertPowerState = "shutoff";
    const r = await call(
      revertRoute,
      "POST",
      `${snaps(stopped)}/${made.body.id}/revert`,
      { id: stopped, sid: String(made.body.id) },
      op,
    );
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ id: stopped, status: "stopped", powerState: "shutoff" });
    expect(agent.calls.at(-1)).toBe(`POST /v1/vms/${stopped}/snapshots/${made.body.id}/revert {}`);
    const snap = await db().snapshot.findUniqueOrThrow({ where: { id: String(made.body.id) } });
    expect(snap.status).toBe("ready");
    const task = await db().task.findFirstOrThrow({ where: { kind: "vm.snapshot.revert" }, include: { steps: true } });
    expect(task.status).toBe("succeeded");
    expect(task.steps[0]).toMatchObject({ name: "revert", status: "succeeded", message: "power state shutoff" });
  });

  it("delete removes it on the host and gives its claim back", async () => {
    const snap = await db().snapshot.findFirstOrThrow({ where: { vmId: running, name: "warm" } });
    const before = await allocated();
    const r = await call(deleteRoute, "DELETE", `${snaps(running)}/${snap.id}`, { id: running, sid: snap.id }, op);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toEqual({ id: snap.id, deleted: true });
    expect(await allocated()).toBe(before - 4);
    expect(await db().snapshot.findUnique({ where: { id: snap.id } })).toBeNull();
    expect(agent.snapshots.get(running)!.map((s) => s.id)).not.toContain(snap.id);
  });

  it("a host that cannot delete keeps the snapshot and its claim, with the reason", async () => {
    const snap = await db().snapshot.findFirstOrThrow({ where: { vmId: running, name: "clean" } });
    const before = await allocated();
    agent.failNext = { status: 409, message: "the VM is busy" };
    const r = await call(deleteRoute, "DELETE", `${snaps(running)}/${snap.id}`, { id: running, sid: snap.id }, op);
    expect(r.status).toBe(409);
    expect(await allocated()).toBe(before);
    const kept = await db().snapshot.findUniqueOrThrow({ where: { id: snap.id } });
    expect(kept.status).toBe("ready");
    expect(kept.lastError).toBe("Delete failed: Host h1: the VM is busy");
  });

  it("a snapshot left 'creating' by a controller that died can be deleted once nobody works on it", async () => {
    const fresh = await db().snapshot.create({
      data: { vmId: running, name: "in-flight", status: "creating", claimedDiskGb: 3 },
    });
    const stale = await db().snapshot.create({
      data: {
        vmId: running,
        name: "orphan",
        status: "creating",
        claimedDiskGb: 3,
        updatedAt: new Date(Date.now() - 3_600_000),
      },
    });
    await db().host.update({ where: { id: hostId }, data: { allocatedDiskGb: { increment: 6 } } });
    const before = await allocated();
    // Just written: some request may still be working on it.
    const early = await call(
      deleteRoute,
      "DELETE",
      `${snaps(running)}/${fresh.id}`,
      { id: running, sid: fresh.id },
      op,
    );
    expect(early.status).toBe(409);
    expect(early.body.error!.message).toBe('Snapshot "in-flight" is creating; wait for it to finish.');
    const r = await call(deleteRoute, "DELETE", `${snaps(running)}/${stale.id}`, { id: running, sid: stale.id }, op);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(await allocated()).toBe(before - 3);
    // The host was asked, and did not know it (404 counts as deleted).
    expect(agent.calls.at(-1)).toBe(`DELETE /v1/vms/${running}/snapshots/${stale.id}`);
    await db().snapshot.delete({ where: { id: fresh.id } });
    await db().host.update({ where: { id: hostId }, data: { allocatedDiskGb: { decrement: 3 } } });
  });

  it("deleting a VM gives its snapshots' claims back together with its own", async () => {
    const held = await db().snapshot.aggregate({ where: { vmId: running }, _sum: { claimedDiskGb: true } });
    expect(held._sum.claimedDiskGb).toBe(2);
    const before = await allocated();
    await deleteVm(running, { actor: op.actor, clientIp: null });
    expect(await allocated()).toBe(before - 8 - 2);
    expect(await db().snapshot.count({ where: { vmId: running } })).toBe(0);
  });
});
