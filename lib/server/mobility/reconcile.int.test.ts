// Reconciliation's rules against a real database (the start on a real agent: ha-agent.int.test.ts):
// it never fights an operation in flight (a running task, a migration), leaves VMs asked to stop
// and hosts that are not up alone, and a start that failed is not repeated until the VM changes.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { TestDatabase } from "../../../prisma/test-db";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import { insertTestHost } from "../testing/rows";
import { db } from "../platform";
import { reconcileVms, resetReconcileMemoryForTests } from "./reconcile";

describe.each(PROVIDERS)("reconcile rules on %s", (provider) => {
  let database: TestDatabase | undefined;
  beforeEach(async () => {
    database = await useFreshDatabase(provider);
    resetReconcileMemoryForTests();
  });
  afterEach(async () => {
    await releaseDatabase(database);
  });

  const vm = (name: string, hostId: string, over: Record<string, unknown> = {}) =>
    db().vm.create({
      data: {
        name,
        arch: "x86_64",
        vcpus: 1,
        memoryMb: 256,
        diskGb: 1,
        hostId,
        status: "stopped",
        powerState: "shutoff",
        ...over,
      },
    });

  it("skips busy, migrating, stopped-on-purpose VMs and hosts that are not up; a failed start is not repeated", async () => {
    // Nothing listens at the up host's agent URL: a start attempt fails with "not reachable".
    const up = await insertTestHost({ name: "up", lastHeartbeatAt: new Date() });
    const stale = await insertTestHost({ name: "stale", lastHeartbeatAt: new Date(Date.now() - 600_000) });
    const agentless = await insertTestHost({ name: "seeded", agentUrl: null, lastHeartbeatAt: new Date() });
    const target = await insertTestHost({ name: "target", lastHeartbeatAt: new Date() });
    const busy = await vm("busy", up.id);
    await db().task.create({ data: { kind: "vm.snapshot", vmId: busy.id, status: "running" } });
    await vm("migrating", up.id, { migratingToHostId: target.id });
    await vm("asked-to-stop", up.id, { desiredState: "stopped" });
    await vm("on-stale", stale.id);
    await vm("on-seeded", agentless.id);
    const drifted = await vm("drifted", up.id);

    const first = await reconcileVms();
    expect(first).toEqual({ started: [], reprovisioned: [], failed: [drifted.id] });
    const tasks = await db().task.findMany({ where: { kind: "vm.reconcile" }, include: { steps: true } });
    expect(tasks.map((t) => [t.vmId, t.status])).toEqual([[drifted.id, "failed"]]);
    expect(tasks[0]!.error).toMatch(/^desired running, found shut off on up; starting it failed: .*not reachable/);
    expect((await db().vm.findUniqueOrThrow({ where: { id: drifted.id } })).lastError).toBe(tasks[0]!.error);

    // Nothing changed: no second failed task, however often the job runs.
    for (let i = 0; i < 3; i++) expect((await reconcileVms()).failed).toEqual([]);
    expect(await db().task.count({ where: { kind: "vm.reconcile" } })).toBe(1);
    // The VM changed (here: a heartbeat noted a new power state): worth another try.
    await db().vm.update({ where: { id: drifted.id }, data: { powerState: "unknown" } });
    expect((await reconcileVms()).failed).toEqual([drifted.id]);
    expect(await db().task.count({ where: { kind: "vm.reconcile" } })).toBe(2);
  });

  it("a VM its live host does not report is re-provisioned only after two heartbeat intervals of silence", async () => {
    const t0 = Date.now();
    const up = await insertTestHost({ name: "up", lastHeartbeatAt: new Date(t0) });
    const lost = await vm("lost", up.id, { status: "unknown", powerState: "unknown" });
    expect((await reconcileVms({ nowMs: t0, wait: false })).reprovisioned).toEqual([]);
    await db().host.update({ where: { id: up.id }, data: { lastHeartbeatAt: new Date(t0 + 9_000) } });
    expect((await reconcileVms({ nowMs: t0 + 9_000, wait: false })).reprovisioned).toEqual([]);
    await db().host.update({ where: { id: up.id }, data: { lastHeartbeatAt: new Date(t0 + 10_500) } });
    const r = await reconcileVms({ nowMs: t0 + 10_500 });
    expect(r.reprovisioned).toEqual([lost.id]);
    // The agent could not be reached: the re-provision ends like a failed create.
    const task = await db().task.findFirstOrThrow({ where: { kind: "vm.reconcile", vmId: lost.id } });
    expect(task.status).toBe("failed");
    const after = await db().vm.findUniqueOrThrow({ where: { id: lost.id } });
    expect([after.status, after.hostId]).toEqual(["error", null]);
  });
});
