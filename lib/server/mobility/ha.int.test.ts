// HA restart's rules against a real database, before any agent is involved (ADR 036): a silent
// host's HA VMs move only once lease + margin have passed since its last heartbeat, only when this
// controller has itself watched a full lease, never while a task owns the VM; with no host able to
// take it there is one failed task per VM per outage. PATCH {ha}: volumes refuse it, and a host
// that cannot be told keeps the flag as it was. (The restart on a real agent: ha-agent.int.test.ts.)
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { TestDatabase } from "../../../prisma/test-db";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import { insertTestHost, insertTestImage } from "../testing/rows";
import { db, resetEnvForTests } from "../platform";
import { attachVolume } from "../volumes";
import { restartFencedHaVms, setVmHa } from "./ha";

const LEASE = 10_000;
const MARGIN = 5_000 + 2_000; // HEARTBEAT_INTERVAL_MS + 2 s
const admin = {
  actor: { id: "admin-1", email: "a@t.test", name: "A", role: "admin" as const, via: "session" as const },
  clientIp: null,
};

describe.each(PROVIDERS)("HA restart rules on %s", (provider) => {
  let database: TestDatabase | undefined;
  const saved = process.env.POLYARCH_HA_LEASE_MS;
  beforeEach(async () => {
    process.env.POLYARCH_HA_LEASE_MS = String(LEASE);
    database = await useFreshDatabase(provider);
  });
  afterEach(async () => {
    if (saved === undefined) delete process.env.POLYARCH_HA_LEASE_MS;
    else process.env.POLYARCH_HA_LEASE_MS = saved;
    resetEnvForTests();
    await releaseDatabase(database);
  });

  async function haVm(hostId: string, over: Record<string, unknown> = {}) {
    const image = await insertTestImage();
    return db().vm.create({
      data: {
        name: "ha-vm",
        arch: "x86_64",
        vcpus: 2,
        memoryMb: 512,
        diskGb: 1,
        imageId: image.id,
        hostId,
        status: "running",
        powerState: "running",
        ha: true,
        ...over,
      },
    });
  }
  const beatAgo = (ms: number, now: number) => new Date(now - ms);

  it("not before lease + margin; not while the controller itself has not watched a full lease; lease 0: never", async () => {
    const now = Date.now();
    const dead = await insertTestHost({ name: "dead", lastHeartbeatAt: beatAgo(LEASE + MARGIN - 1_000, now) });
    await insertTestHost({ name: "spare", lastHeartbeatAt: new Date(now) });
    const vm = await haVm(dead.id);
    // Just inside lease + margin: the agent's own lease may not have fenced the VM yet.
    expect(await restartFencedHaVms({ nowMs: now, upSinceMs: 0, wait: false })).toEqual({
      restarted: [],
      failed: [],
      skipped: [],
    });
    await db().host.update({ where: { id: dead.id }, data: { lastHeartbeatAt: beatAgo(LEASE + MARGIN + 1_000, now) } });
    // Past it, but this controller only just started: it cannot tell a dead host from its own absence.
    expect((await restartFencedHaVms({ nowMs: now, upSinceMs: now - 1_000, wait: false })).restarted).toEqual([]);
    process.env.POLYARCH_HA_LEASE_MS = "0";
    resetEnvForTests();
    expect((await restartFencedHaVms({ nowMs: now, upSinceMs: 0, wait: false })).restarted).toEqual([]);
    // A task in flight (here: a stop someone started) owns the VM: HA waits for it.
    process.env.POLYARCH_HA_LEASE_MS = String(LEASE);
    resetEnvForTests();
    const task = await db().task.create({ data: { kind: "vm.stop", vmId: vm.id, status: "running" } });
    expect((await restartFencedHaVms({ nowMs: now, upSinceMs: 0, wait: false })).skipped).toEqual([vm.id]);
    await db().task.update({ where: { id: task.id }, data: { status: "failed" } });
    expect(await db().task.count({ where: { kind: "vm.ha-restart" } })).toBe(0);
    expect((await db().vm.findUniqueOrThrow({ where: { id: vm.id } })).hostId).toBe(dead.id);
  });

  it("moves the VM to the live host in one step: generation + 1, claims moved, snapshots of the dead disk gone", async () => {
    const now = Date.now();
    const dead = await insertTestHost({
      name: "dead",
      lastHeartbeatAt: beatAgo(LEASE + MARGIN + 1_000, now),
      allocatedCpus: 2,
      allocatedMemoryMb: 512,
      allocatedDiskGb: 2,
    });
    const spare = await insertTestHost({ name: "spare", lastHeartbeatAt: new Date(now) });
    // A host in the fleet that went quiet as well is no target.
    await insertTestHost({ name: "quiet", lastHeartbeatAt: beatAgo(60_000, now), cpuCount: 64 });
    const vm = await haVm(dead.id);
    await db().snapshot.create({ data: { vmId: vm.id, name: "s1", status: "ready", claimedDiskGb: 1 } });
    const r = await restartFencedHaVms({ nowMs: now, upSinceMs: 0, provision: false });
    expect(r.restarted).toEqual([vm.id]);
    const row = await db().vm.findUniqueOrThrow({ where: { id: vm.id } });
    expect([row.hostId, row.generation]).toEqual([spare.id, 2]);
    const hosts = await db().host.findMany({
      where: { id: { in: [dead.id, spare.id] } },
      select: { name: true, allocatedCpus: true, allocatedMemoryMb: true, allocatedDiskGb: true },
      orderBy: { name: "asc" },
    });
    expect(hosts).toEqual([
      { name: "dead", allocatedCpus: 0, allocatedMemoryMb: 0, allocatedDiskGb: 0 },
      { name: "spare", allocatedCpus: 2, allocatedMemoryMb: 512, allocatedDiskGb: 1 },
    ]);
    expect(await db().snapshot.count({ where: { vmId: vm.id } })).toBe(0);
    const task = await db().task.findFirstOrThrow({
      where: { kind: "vm.ha-restart", vmId: vm.id },
      include: { steps: { orderBy: { position: "asc" } } },
    });
    expect(task.hostId).toBe(spare.id);
    expect(task.steps[0]).toMatchObject({ name: "fenced", status: "succeeded" });
    expect(task.steps[0]!.message).toMatch(/^host dead silent since .+; lease expired at .+/);
    expect(task.steps[1]!.message).toMatch(/placed on spare; .*fresh disk.*not carried.*1 snapshot/);
  });

  it("no host can take it: one failed task with the reasons per outage, retried on every run", async () => {
    const now = Date.now();
    const dead = await insertTestHost({ name: "dead", lastHeartbeatAt: beatAgo(LEASE + MARGIN + 1_000, now) });
    await insertTestHost({ name: "small", lastHeartbeatAt: new Date(now), cpuCount: 1 });
    const vm = await haVm(dead.id);
    for (let run = 0; run < 3; run++) await restartFencedHaVms({ nowMs: now + run * 5_000, upSinceMs: 0 });
    const tasks = await db().task.findMany({
      where: { kind: "vm.ha-restart", vmId: vm.id },
      include: { steps: { orderBy: { position: "asc" } } },
    });
    expect(tasks.length).toBe(1);
    expect(tasks[0]!.status).toBe("failed");
    expect(tasks[0]!.error).toMatch(/^No host can take it .*small: .*vCPU/);
    expect(tasks[0]!.steps.map((s) => s.status)).toEqual([
      "succeeded",
      "failed",
      "skipped",
      "skipped",
      "skipped",
      "skipped",
      "skipped",
    ]);
    expect((await db().vm.findUniqueOrThrow({ where: { id: vm.id } })).hostId).toBe(dead.id);
    // The host came back and died again: a new outage, a new failed task.
    await db().host.update({
      where: { id: dead.id },
      data: { lastHeartbeatAt: beatAgo(LEASE + MARGIN + 500, now + 20_000) },
    });
    await restartFencedHaVms({ nowMs: now + 20_000, upSinceMs: 0 });
    expect(await db().task.count({ where: { kind: "vm.ha-restart", vmId: vm.id } })).toBe(2);
  });

  it("PATCH ha: refused with volumes; an unplaced VM just takes the flag; an unreachable host keeps it as it was", async () => {
    const host = await insertTestHost({ name: "h" });
    const vm = await haVm(host.id, { ha: false });
    await db().volume.create({ data: { name: "data", sizeGb: 1, hostId: host.id, vmId: vm.id, status: "in-use" } });
    await expect(setVmHa(vm.id, { ha: true }, admin)).rejects.toThrow(
      /has 1 attached volume\(s\): a volume lives on one host/,
    );
    await db().volume.deleteMany({});
    // Nothing listens at the host's agent URL: the agent cannot be told to fence it, so HA stays off.
    await expect(setVmHa(vm.id, { ha: true }, admin)).rejects.toMatchObject({ code: "unavailable" });
    expect((await db().vm.findUniqueOrThrow({ where: { id: vm.id } })).ha).toBe(false);
    await db().vm.update({ where: { id: vm.id }, data: { hostId: null, status: "error" } });
    expect((await setVmHa(vm.id, { ha: true }, admin)).ha).toBe(true);
    // And the other way round: an HA VM takes no volume.
    await db().vm.update({ where: { id: vm.id }, data: { hostId: host.id, status: "running" } });
    const free = await db().volume.create({ data: { name: "free", sizeGb: 1, status: "available" } });
    await expect(attachVolume(vm.id, free.id, admin)).rejects.toThrow(/is an HA VM: .*Turn HA off to attach volumes/);
    expect((await db().volume.findUniqueOrThrow({ where: { id: free.id } })).vmId).toBeNull();
    const audit = await db().auditEvent.findMany({
      where: { action: "vm.update", targetId: vm.id },
      orderBy: { createdAt: "asc" },
    });
    expect(audit.map((a) => a.result)).toEqual(["error", "error", "success"]);
  });
});
