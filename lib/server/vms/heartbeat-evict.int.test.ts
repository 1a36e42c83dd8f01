// The heartbeat's answer for HA (ADR 036): the lease (fenceAfterMs) from POLYARCH_HA_LEASE_MS, and
// `evict` naming the copies an agent must kill: VMs moved to another host at a newer generation,
// and VMs whose deletion the audit log records. A target's incoming copy, a VM the controller
// never knew and a copy reported at the row's own generation are left alone; so is the row.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { TestDatabase } from "../../../prisma/test-db";
import type { VmStatus } from "../../schemas/agent-api";
import { heartbeatResponseSchema } from "../../schemas/agent-api";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import { insertTestHost } from "../testing/rows";
import { db, recordAudit, resetEnvForTests } from "../platform";
import { recordHeartbeat, TOMBSTONE_GENERATION } from "./status";

const usage = { cpuPct: 1, memoryUsedMb: 1, diskUsedGb: 1, loadAvg: [] };
const copy = (id: string, generation?: number, powerState: VmStatus["powerState"] = "running"): VmStatus => ({
  id,
  name: id,
  arch: "x86_64",
  powerState,
  emulated: true,
  accel: "tcg",
  vcpus: 1,
  memoryMb: 256,
  ...(generation ? { generation } : {}),
});

describe.each(PROVIDERS)("heartbeat evict and lease on %s", (provider) => {
  let database: TestDatabase | undefined;
  const savedLease = process.env.POLYARCH_HA_LEASE_MS;
  beforeEach(async () => {
    database = await useFreshDatabase(provider);
  });
  afterEach(async () => {
    if (savedLease === undefined) delete process.env.POLYARCH_HA_LEASE_MS;
    else process.env.POLYARCH_HA_LEASE_MS = savedLease;
    resetEnvForTests();
    await releaseDatabase(database);
  });

  async function vm(id: string, data: { hostId: string | null; generation?: number; migratingToHostId?: string }) {
    await db().vm.create({
      data: {
        id,
        name: id,
        arch: "x86_64",
        vcpus: 1,
        memoryMb: 256,
        diskGb: 1,
        status: "running",
        powerState: "running",
        ...data,
      },
    });
  }

  it("evicts moved copies and tombstoned ones only; the rows it does not own keep their state", async () => {
    const a = await insertTestHost({ name: "a" });
    const b = await insertTestHost({ name: "b" });
    await vm("moved", { hostId: b.id, generation: 2 }); // HA restarted / migrated to b
    await vm("incoming", { hostId: b.id, generation: 1, migratingToHostId: a.id }); // a is the target
    await vm("same-gen", { hostId: b.id, generation: 3 }); // a reports generation 3 too: not older
    await vm("mine", { hostId: a.id, generation: 1 });
    await recordAudit({ actor: null, action: "vm.delete", result: "success", targetType: "vm", targetId: "gone" });
    // A denied DELETE of an arbitrary id is audited as well: no tombstone.
    await recordAudit({ actor: null, action: "vm.delete", result: "denied", targetType: "vm", targetId: "denied" });
    const res = await recordHeartbeat(a.id, {
      usage,
      vms: [
        copy("moved", undefined, "shutoff"), // absent generation = 1; the stale copy was fenced
        copy("incoming", 2),
        copy("same-gen", 3),
        copy("mine", 1),
        copy("gone"),
        copy("never-known"),
        copy("denied"),
      ],
    } as never);
    expect(heartbeatResponseSchema.parse(res)).toEqual(res);
    expect(res.fenceAfterMs).toBe(60_000);
    expect([...(res.evict ?? [])].sort((x, y) => x.id.localeCompare(y.id))).toEqual([
      { id: "gone", generation: TOMBSTONE_GENERATION },
      { id: "moved", generation: 2 },
    ]);
    // The moved VM's row still says where it runs now, with its status untouched by a's "shut off".
    const moved = await db().vm.findUniqueOrThrow({ where: { id: "moved" } });
    expect([moved.hostId, moved.status, moved.generation]).toEqual([b.id, "running", 2]);
  });

  it("nothing to evict: no field; lease 0 turns the lease off; the lease follows the setting", async () => {
    const a = await insertTestHost({ name: "a" });
    await vm("mine", { hostId: a.id });
    const plain = await recordHeartbeat(a.id, { usage, vms: [copy("mine")] } as never);
    expect(plain).toEqual({ ok: true, heartbeatIntervalMs: 5000, fenceAfterMs: 60_000 });
    process.env.POLYARCH_HA_LEASE_MS = "0";
    resetEnvForTests();
    expect(await recordHeartbeat(a.id, { usage, vms: [] } as never)).toEqual({ ok: true, heartbeatIntervalMs: 5000 });
    process.env.POLYARCH_HA_LEASE_MS = "7000";
    resetEnvForTests();
    expect((await recordHeartbeat(a.id, { usage, vms: [] } as never)).fenceAfterMs).toBe(7000);
    process.env.POLYARCH_HA_LEASE_MS = "500";
    resetEnvForTests();
    await expect(recordHeartbeat(a.id, { usage, vms: [] } as never)).rejects.toThrow(/POLYARCH_HA_LEASE_MS/);
  });
});
