// The migration routes of issue 14 against the REAL route handlers and fresh databases: who may
// move a VM (host:manage: a viewer and an operator get 403, another project's member 404 on the
// preview), cross-site browser writes refused, bad bodies 400, unknown or unfit hosts 404/409 with
// the preview's reason — and nothing changes. The hosts' agents do not listen: a migration that is
// accepted fails at "prepare target" and must leave the VM, its claims and both hosts as they were.
// Also: the machine type and CPU model pinned at create (ADR 037).
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "@/lib/server/testing/server-db";
import type { TestDatabase } from "@/prisma/test-db";
import { db, type Actor } from "@/lib/server/platform";
import { createToken, createUser } from "@/lib/server/identity";
import { addProjectMember, createProject } from "@/lib/server/projects";
import { insertTestHost, insertTestImage } from "@/lib/server/testing/rows";
import { createVm } from "@/lib/server/vms";
import { AppError } from "@/lib/errors";
import { POST as authPost } from "@/app/api/auth/[...all]/route";
import { sessionCookie } from "@/lib/server/testing/session-cookie";
import * as migrateRoute from "@/app/api/v1/vms/[id]/migrate/route";
import * as cancelRoute from "@/app/api/v1/vms/[id]/migrate/cancel/route";
import * as previewRoute from "@/app/api/v1/vms/[id]/migration-preview/route";
import { migrationPreviewSchema } from "@/lib/schemas/migration";

const SELF = "http://localhost:3000";
const FOREIGN = "http://localhost:8080";
type Handler = (req: Request, ctx: { params: Promise<never> }) => Promise<Response>;
const MACHINES = { x86_64: { default: "pc-q35-7.2", types: ["pc-q35-7.2", "pc-q35-7.1", "q35"] } };

describe.each(PROVIDERS)("migration routes on %s", (provider) => {
  let database: TestDatabase | undefined;
  const tokens: Record<"admin" | "opA" | "opB" | "viewerA", string> = { admin: "", opA: "", opB: "", viewerA: "" };
  let cookie = "";
  let vmId = "";
  let admin: Actor;
  let projectA = "";
  let imageId = "";
  const hosts: Record<string, string> = {};
  const savedPublicUrl = process.env.POLYARCH_PUBLIC_URL;

  beforeAll(async () => {
    vi.spyOn(console, "log").mockImplementation(() => undefined);
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    process.env.POLYARCH_PUBLIC_URL = SELF;
    database = await useFreshDatabase(provider);
    const { id: adminId } = await createUser({
      email: "admin@mg.test",
      name: "Admin",
      role: "admin",
      password: "admin-password-1",
    });
    admin = { id: adminId, email: "admin@mg.test", name: "Admin", role: "admin", via: "session" };
    const who = { actor: admin, clientIp: null };
    projectA = (await createProject({ name: "alpha", description: null }, who)).id;
    const projectB = (await createProject({ name: "beta", description: null }, who)).id;
    tokens.admin = (await createToken(admin, "t", 0, null)).token;
    for (const [key, role, project] of [
      ["opA", "operator", projectA],
      ["opB", "operator", projectB],
      ["viewerA", "viewer", projectA],
    ] as const) {
      const email = `${key.toLowerCase()}@mg.test`;
      const { id } = await createUser({ email, name: key, role, password: "member-password-1" }, who);
      await addProjectMember(project, { userId: id }, who);
      tokens[key] = (await createToken({ id, email, name: key, role, via: "session" }, "t", 0, null)).token;
    }
    // Only "a" takes the create (the others are in maintenance until the VM is placed).
    const facts = JSON.stringify({ machines: MACHINES });
    hosts.a = (await insertTestHost({ name: "a", kvm: true, qemuVersion: "7.2.22", facts })).id;
    hosts.b = (
      await insertTestHost({ name: "b", kvm: true, qemuVersion: "7.2.22", facts, adminState: "maintenance" })
    ).id;
    hosts.old = (
      await insertTestHost({
        name: "old",
        kvm: true,
        qemuVersion: "6.2.0",
        facts: JSON.stringify({ machines: { x86_64: { default: "pc-q35-6.2", types: ["pc-q35-6.2"] } } }),
        adminState: "maintenance",
      })
    ).id;
    hosts.arm = (await insertTestHost({ name: "arm", arch: "aarch64", nativeArches: '["aarch64"]' })).id;
    imageId = (await insertTestImage()).id;
    vmId = (
      await createVm(
        {
          name: "mover",
          arch: "x86_64",
          imageId,
          vcpus: 2,
          memoryMb: 512,
          diskGb: 2,
          networkId: null,
          allowEmulation: false,
          strategy: "spread",
          projectId: projectA,
        },
        who,
        { provision: false },
      )
    ).vm.id;
    await db().vm.update({ where: { id: vmId }, data: { status: "running", powerState: "running" } });
    await db().task.updateMany({ where: { vmId }, data: { status: "succeeded" } });
    await db().host.updateMany({ where: { id: { in: [hosts.b!, hosts.old!] } }, data: { adminState: "enabled" } });

    cookie = await sessionCookie(authPost, SELF, "admin@mg.test", "admin-password-1");
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
    as: keyof typeof tokens | "cross-site" | "cross-site-text",
    body?: unknown,
    id = vmId,
  ) {
    const headers = new Headers({ host: "localhost:3000" });
    if (as === "cross-site") headers.set("origin", FOREIGN);
    if (as === "cross-site-text") headers.set("origin", SELF);
    if (as.startsWith("cross-site")) headers.set("cookie", cookie);
    else headers.set("authorization", `Bearer ${tokens[as as keyof typeof tokens]}`);
    if (body !== undefined)
      headers.set("content-type", as.startsWith("cross-site") ? "text/plain;charset=UTF-8" : "application/json");
    const res = await handler(
      new Request(`${SELF}/api/v1/x`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }),
      { params: Promise.resolve({ id }) as Promise<never> },
    );
    return {
      status: res.status,
      body: (await res.json()) as { error?: { code: string; message: string } } & Record<string, unknown>,
    };
  }

  /** Everything a migration could change. */
  const state = async () => ({
    vm: await db().vm.findUniqueOrThrow({
      where: { id: vmId },
      select: { hostId: true, generation: true, migratingToHostId: true, status: true, emulated: true },
    }),
    hosts: await db().host.findMany({
      orderBy: { name: "asc" },
      select: { name: true, allocatedCpus: true, allocatedMemoryMb: true, allocatedDiskGb: true },
    }),
    runningTasks: await db().task.count({ where: { status: "running" } }),
  });

  it("pins the placed host's default machine type and the accelerator's CPU model; refuses an Arm CPU on x86_64", async () => {
    const vm = await db().vm.findUniqueOrThrow({ where: { id: vmId } });
    expect([vm.hostId, vm.machineType, vm.cpuModel, vm.generation]).toEqual([hosts.a, "pc-q35-7.2", "Westmere", 1]);
    const input = {
      name: "bad-cpu",
      arch: "x86_64" as const,
      imageId,
      vcpus: 1,
      memoryMb: 128,
      diskGb: 1,
      networkId: null,
      allowEmulation: false,
      strategy: "spread" as const,
      projectId: projectA,
      cpuModel: "cortex-a57",
    };
    const before = await state();
    const error = await createVm(input, { actor: admin, clientIp: null }, { provision: false }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AppError);
    expect([(error as AppError).status, (error as AppError).message]).toEqual([
      400,
      expect.stringMatching(/^CPU model cortex-a57 is an Arm CPU; an x86_64 VM needs an x86 model/),
    ]);
    expect(await state()).toEqual(before);
  });

  it("refusals: viewer and operator 403, cross-site 403/415, bad body 400, unknown host 404, unfit host 409", async () => {
    const before = await state();
    for (const [handler, body] of [
      [migrateRoute.POST, { hostId: hosts.b }],
      [cancelRoute.POST, undefined],
    ] as const) {
      for (const who of ["viewerA", "opA"] as const) {
        const r = await send(handler as Handler, "POST", who, body);
        expect([who, r.status, r.body.error?.code]).toEqual([who, 403, "forbidden"]);
      }
      const cross = await send(handler as Handler, "POST", "cross-site", body ?? {});
      expect([cross.status, cross.body.error?.message]).toEqual([
        403,
        expect.stringMatching(/^Cross-site request refused: /),
      ]);
      expect((await send(handler as Handler, "POST", "cross-site-text", body ?? {})).status).toBe(415);
    }
    const bad = await send(migrateRoute.POST as Handler, "POST", "admin", { live: "yes" });
    expect([bad.status, bad.body.error?.code]).toEqual([400, "invalid"]);
    const extra = await send(migrateRoute.POST as Handler, "POST", "admin", { hostId: hosts.b, force: true });
    expect(extra.status).toBe(400);
    const unknown = await send(migrateRoute.POST as Handler, "POST", "admin", { hostId: "no-such-host" });
    expect([unknown.status, unknown.body.error?.message]).toEqual([404, "Host no-such-host does not exist."]);
    const old = await send(migrateRoute.POST as Handler, "POST", "admin", { hostId: hosts.old });
    expect([old.status, old.body.error?.message]).toEqual([
      409,
      "mover cannot move to old: machine type pc-q35-7.2 is not offered by this host's QEMU 6.2.0 (its x86_64 default is pc-q35-6.2); " +
        "QEMU 6.2.0 here is older than 7.2.22 on the source: QEMU migrates only forward.",
    ]);
    const arm = await send(migrateRoute.POST as Handler, "POST", "admin", { hostId: hosts.arm });
    expect([arm.status, arm.body.error?.message]).toEqual([
      409,
      "mover cannot move to arm: x86_64 VM cannot run on an aarch64 host (no x86_64 emulator there).",
    ]);
    const here = await send(migrateRoute.POST as Handler, "POST", "admin", { hostId: hosts.a });
    expect([here.status, here.body.error?.message]).toEqual([409, "mover cannot move to a: the VM runs on this host."]);
    const cold = await send(migrateRoute.POST as Handler, "POST", "admin", { live: false });
    expect([cold.status, cold.body.error?.message]).toEqual([
      409,
      "mover is running: stop it to move it cold, or move it live.",
    ]);
    const cancel = await send(cancelRoute.POST as Handler, "POST", "admin");
    expect([cancel.status, cancel.body.error?.message]).toEqual([409, "No migration of this VM is running."]);
    expect(await state()).toEqual(before);
    const audits = await db().auditEvent.count({ where: { action: "vm.migrate", result: "error", targetId: vmId } });
    expect(audits).toBe(5); // 404, old, arm, the current host, cold while running
  });

  it("preview: members read it (verdicts and the pick), another project's member gets 404", async () => {
    const viewer = await send(previewRoute.GET as Handler, "GET", "viewerA");
    expect(viewer.status).toBe(200);
    const preview = migrationPreviewSchema.parse(viewer.body);
    expect(preview).toMatchObject({
      vmId,
      migrationMode: "live",
      machineType: "pc-q35-7.2",
      cpuModel: "Westmere",
      blocked: null,
      recommendedHostId: hosts.b,
    });
    const byName = Object.fromEntries(preview.hosts.map((h) => [h.name, h]));
    expect(byName.a).toMatchObject({ current: true, ok: false });
    expect(byName.b).toMatchObject({
      ok: true,
      mode: "native",
      warnings: ["the host does not report its CPU models; Westmere is assumed usable"],
    });
    expect(byName.old!.ok).toBe(false);
    expect((await send(previewRoute.GET as Handler, "GET", "opB")).status).toBe(404);
  });

  it("an accepted migration whose target does not answer fails at 'prepare target'; the VM and claims are as before", async () => {
    const before = await state();
    const started = await send(migrateRoute.POST as Handler, "POST", "admin", {});
    expect(started.status).toBe(202);
    const taskId = (started.body.task as { id: string }).id;
    const task = await vi.waitFor(
      async () => {
        const t = await db().task.findUniqueOrThrow({
          where: { id: taskId },
          include: { steps: { orderBy: { position: "asc" } } },
        });
        if (t.status === "running") throw new Error("still running");
        return t;
      },
      { timeout: 60_000, interval: 100 },
    );
    expect([task.kind, task.status, task.hostId]).toEqual(["vm.migrate", "failed", hosts.a]);
    expect(task.error).toMatch(/^The agent on host b is not reachable/);
    expect(task.steps.map((s) => [s.name, s.status])).toEqual([
      ["check", "succeeded"],
      ["prepare target", "failed"],
      ["copy disks", "skipped"],
      ["memory", "skipped"],
      ["switch over", "skipped"],
      ["clean up source", "skipped"],
    ]);
    // The source could not be asked either (nothing listens): the VM's row keeps what it had.
    expect(await state()).toEqual(before);
  });
});
