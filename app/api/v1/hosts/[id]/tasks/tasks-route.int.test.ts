// GET /api/v1/hosts/:id/tasks (the host page's evacuation progress) and the task DTO's progress and
// result (issue 14), against the real route handlers and fresh databases: host:manage only (its
// steps name VMs of every project), 404 for an unknown host, only the host's own tasks (no VM's),
// and Task.result answered only when it is a migration's measured shape.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "@/lib/server/testing/server-db";
import type { TestDatabase } from "@/prisma/test-db";
import { db, type Actor } from "@/lib/server/platform";
import { createToken, createUser } from "@/lib/server/identity";
import { insertTestHost, insertTestImage } from "@/lib/server/testing/rows";
import { createVm } from "@/lib/server/vms";
import { itemsOf } from "@/lib/schemas/dto";
import { vmTaskDtoSchema } from "@/lib/schemas/vms";
import * as hostTasksRoute from "@/app/api/v1/hosts/[id]/tasks/route";
import * as vmTasksRoute from "@/app/api/v1/vms/[id]/tasks/route";

const SELF = "http://localhost:3000";
type Handler = (req: Request, ctx: { params: Promise<never> }) => Promise<Response>;

describe.each(PROVIDERS)("host tasks and task progress/result on %s", (provider) => {
  let database: TestDatabase | undefined;
  const tokens = { admin: "", operator: "", viewer: "" };
  let hostId = "";
  let vmId = "";

  beforeAll(async () => {
    vi.spyOn(console, "log").mockImplementation(() => undefined);
    database = await useFreshDatabase(provider);
    let admin: Actor | undefined;
    for (const role of ["admin", "operator", "viewer"] as const) {
      const email = `${role}@ht.test`;
      const { id } = await createUser({ email, name: role, role, password: `${role}-password-1` });
      const actor: Actor = { id, email, name: role, role, via: "session" };
      admin ??= actor;
      tokens[role] = (await createToken(actor, "t", 0, null)).token;
    }
    hostId = (await insertTestHost({ name: "host-a" })).id;
    const image = await insertTestImage();
    vmId = (
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
        },
        { actor: admin!, clientIp: null },
        { provision: false },
      )
    ).vm.id;
    // An evacuation of host-a: one step per VM, the first moved, the second refused, the third running.
    await db().task.create({
      data: {
        kind: "host.evacuate",
        status: "running",
        hostId,
        progress: 67,
        createdAt: new Date("2026-12-06T05:00:00Z"),
        steps: {
          create: [
            { position: 0, name: "web-1", status: "succeeded", message: "live-migrated to host-b" },
            { position: 1, name: "db-1", status: "failed", message: "no host can take it: host-b: not enough memory" },
            { position: 2, name: "batch-1", status: "running" },
          ],
        },
      },
    });
    const measured = {
      mode: "live",
      fromHostId: hostId,
      toHostId: "h-b",
      totalMs: 12345,
      downtimeMs: 80,
      bytes: 1 << 20,
    };
    await db().task.create({
      data: {
        kind: "vm.migrate",
        status: "succeeded",
        vmId,
        hostId,
        progress: 100,
        result: JSON.stringify(measured),
        createdAt: new Date("2026-12-06T05:10:00Z"),
      },
    });
    await db().task.create({
      data: {
        kind: "vm.migrate",
        status: "failed",
        vmId,
        result: "{not json",
        createdAt: new Date("2026-12-06T05:20:00Z"),
      },
    });
  });

  afterAll(async () => {
    vi.restoreAllMocks();
    await releaseDatabase(database);
  });

  async function get(handler: Handler, id: string, as: keyof typeof tokens) {
    const res = await handler(
      new Request(`${SELF}/api/v1/x`, { headers: { host: "localhost:3000", authorization: `Bearer ${tokens[as]}` } }),
      { params: Promise.resolve({ id }) as Promise<never> },
    );
    return { status: res.status, body: (await res.json()) as Record<string, unknown> & { error?: { code: string } } };
  }

  it("answers the host's own tasks with their steps and progress to host:manage, in the documented shape", async () => {
    const res = await get(hostTasksRoute.GET as Handler, hostId, "admin");
    expect(res.status).toBe(200);
    const { items } = itemsOf(vmTaskDtoSchema).parse(res.body);
    // the VM's migration task has hostId too, but it is the VM's: only host-level tasks are listed
    expect(items.map((t) => t.kind)).toEqual(["host.evacuate"]);
    expect(items[0]).toMatchObject({ status: "running", progress: 67, vmId: null, hostId, result: null });
    expect(items[0]!.steps.map((s) => [s.name, s.status, s.message])).toEqual([
      ["web-1", "succeeded", "live-migrated to host-b"],
      ["db-1", "failed", "no host can take it: host-b: not enough memory"],
      ["batch-1", "running", null],
    ]);
  });

  it("refuses roles without host:manage and answers 404 for an unknown host", async () => {
    for (const role of ["operator", "viewer"] as const) {
      const res = await get(hostTasksRoute.GET as Handler, hostId, role);
      expect([role, res.status, res.body.error?.code]).toEqual([role, 403, "forbidden"]);
    }
    const missing = await get(hostTasksRoute.GET as Handler, "no-such-host", "admin");
    expect([missing.status, missing.body.error?.code]).toEqual([404, "not_found"]);
  });

  it("the VM's tasks carry progress and a migration's measured result; a result of another shape is null", async () => {
    const res = await get(vmTasksRoute.GET as Handler, vmId, "admin");
    expect(res.status).toBe(200);
    const { items } = itemsOf(vmTaskDtoSchema).parse(res.body);
    const migrations = items.filter((t) => t.kind === "vm.migrate");
    expect(migrations.map((t) => [t.status, t.progress, t.result])).toEqual([
      ["failed", null, null],
      [
        "succeeded",
        100,
        { mode: "live", fromHostId: hostId, toHostId: "h-b", totalMs: 12345, downtimeMs: 80, bytes: 1 << 20 },
      ],
    ]);
  });
});
