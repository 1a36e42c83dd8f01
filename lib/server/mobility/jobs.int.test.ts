// The controller's periodic work runs HA restart and reconciliation by itself (startControllerWork,
// lib/server/startup): with a 1 s lease, a VM on a host silent past lease + margin gets a
// vm.ha-restart task once the controller has been up that long, and a VM found shut off on a live
// host gets a vm.reconcile task — no test calls the jobs. (Nothing listens at the test hosts'
// agent URLs: the tasks fail; what they do on a real agent is ha-agent.int.test.ts.)
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { TestDatabase } from "../../../prisma/test-db";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import { insertTestHost, insertTestImage } from "../testing/rows";
import { db, resetEnvForTests } from "../platform";
import { startControllerWork } from "../startup";

describe.each(PROVIDERS)("periodic HA and reconcile jobs on %s", (provider) => {
  let database: TestDatabase | undefined;
  const saved = process.env.POLYARCH_HA_LEASE_MS;
  beforeEach(async () => {
    vi.spyOn(console, "log").mockImplementation(() => undefined);
    process.env.POLYARCH_HA_LEASE_MS = "1000";
    database = await useFreshDatabase(provider);
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await releaseDatabase(database);
    if (saved === undefined) delete process.env.POLYARCH_HA_LEASE_MS;
    else process.env.POLYARCH_HA_LEASE_MS = saved;
    resetEnvForTests();
  });

  it("runs both without being called", async () => {
    const image = await insertTestImage();
    const dead = await insertTestHost({ name: "dead", lastHeartbeatAt: new Date(Date.now() - 60_000) });
    const live = await insertTestHost({ name: "live", lastHeartbeatAt: new Date() });
    const vm = (name: string, hostId: string, status: string, ha: boolean) =>
      db().vm.create({
        data: { name, arch: "x86_64", vcpus: 1, memoryMb: 256, diskGb: 1, imageId: image.id, hostId, status, ha },
      });
    const haVm = await vm("ha", dead.id, "running", true);
    const off = await vm("off", live.id, "stopped", false);
    const work = startControllerWork({ everyMs: 200, ttlMs: 2_000, orphanSweep: false });
    try {
      const deadline = Date.now() + 60_000;
      const kinds = async () =>
        new Set((await db().task.findMany({ select: { kind: true, vmId: true } })).map((t) => `${t.kind}:${t.vmId}`));
      // Keep the live host fresh (it has no agent to heartbeat) while the controller's grace passes.
      while (Date.now() < deadline) {
        await db().host.update({ where: { id: live.id }, data: { lastHeartbeatAt: new Date() } });
        const seen = await kinds();
        if (seen.has(`vm.ha-restart:${haVm.id}`) && seen.has(`vm.reconcile:${off.id}`)) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      const seen = await kinds();
      expect(seen.has(`vm.reconcile:${off.id}`), "a vm.reconcile task for the shut-off VM").toBe(true);
      expect(seen.has(`vm.ha-restart:${haVm.id}`), "a vm.ha-restart task for the HA VM").toBe(true);
    } finally {
      await work.stop();
      // The jobs do not wait for provisioning: let it end (failed) before the database goes.
      for (let i = 0; i < 300 && (await db().task.count({ where: { status: "running" } })) > 0; i++)
        await new Promise((r) => setTimeout(r, 100));
    }
  }, 90_000);
});
