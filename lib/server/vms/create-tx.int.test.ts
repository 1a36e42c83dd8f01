// The create path's write shape (issue 16): the placement transaction also writes the task with its
// "scheduled" step done and the audit entry (nothing is written after it before the answer), and
// StepLog records an agent's streamed steps with their own times, a burst in one write, in order.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import type { TestDatabase } from "../../../prisma/test-db";
import { db, type Actor } from "../platform";
import { createVm } from ".";
import { CREATE_STEPS, createTask, StepLog } from "./tasks";

const actor: Actor = { id: "u1", email: "op@t.test", name: "Op", role: "admin", via: "session" };
const who = { actor, clientIp: "192.0.2.7" };
const tick = () => new Promise((r) => setImmediate(r));

async function steps(taskId: string) {
  return db().taskStep.findMany({ where: { taskId }, orderBy: { position: "asc" } });
}

describe.each(PROVIDERS)("create write shape on %s", (provider) => {
  let database: TestDatabase | undefined;
  beforeEach(async () => {
    database = await useFreshDatabase(provider);
  });
  afterEach(async () => {
    await releaseDatabase(database);
  });

  it("the placement transaction writes the VM, the task with 'scheduled' done and the audit entry", async () => {
    const host = await db().host.create({
      data: {
        name: "node-a",
        arch: "x86_64",
        cpuCount: 8,
        memoryMb: 16384,
        diskGb: 100,
        status: "online",
        nativeArches: JSON.stringify(["x86_64"]),
        emulatedArches: "[]",
        agentUrl: "http://127.0.0.1:9",
      },
    });
    const image = await db().image.create({
      data: { name: "img", arch: "x86_64", format: "kernel", status: "ready", minMemoryMb: 64, minDiskGb: 1 },
    });
    const input = {
      name: "shape-1",
      arch: "x86_64" as const,
      imageId: image.id,
      vcpus: 2,
      memoryMb: 512,
      diskGb: 3,
      networkId: null,
      allowEmulation: false,
      strategy: "spread" as const,
    };
    const out = await createVm(input, who, { provision: false });
    const task = await db().task.findUniqueOrThrow({ where: { id: out.task.id } });
    expect(task).toMatchObject({ kind: "vm.create", status: "running", vmId: out.vm.id, hostId: host.id });
    const rows = await steps(task.id);
    expect(rows.map((s) => s.name)).toEqual([...CREATE_STEPS]);
    expect(rows[0]).toMatchObject({ status: "succeeded", message: "placed on node-a" });
    expect(rows[0]!.startedAt).not.toBeNull();
    expect(rows[0]!.finishedAt).not.toBeNull();
    expect(rows.slice(1).every((s) => s.status === "pending" && !s.startedAt)).toBe(true);
    const audit = await db().auditEvent.findMany({ where: { action: "vm.create" } });
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ result: "success", targetId: out.vm.id, userId: "u1", clientIp: "192.0.2.7" });
    expect(JSON.parse(audit[0]!.details!)).toMatchObject({ name: "shape-1", host: "node-a", emulated: false });
    expect(await db().host.findUniqueOrThrow({ where: { id: host.id } })).toMatchObject({
      allocatedCpus: 2,
      allocatedMemoryMb: 512,
      allocatedDiskGb: 3,
    });

    // A refused create (no host fits) writes no VM, no task, and audits the error.
    await expect(createVm({ ...input, name: "too-big", vcpus: 64 }, who, { provision: false })).rejects.toMatchObject({
      code: "conflict",
    });
    expect(await db().vm.count()).toBe(1);
    expect(await db().task.count()).toBe(1);
    expect(await db().auditEvent.count({ where: { action: "vm.create", result: "error" } })).toBe(1);
  });

  it("StepLog: a burst is one write with each step's own times; settle() hands back what is unwritten", async () => {
    const task = await createTask({ kind: "vm.create", steps: CREATE_STEPS, done: { message: "placed" } });
    const errors: unknown[] = [];
    const log = new StepLog(task.id, (e) => errors.push(e));
    const t = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));

    // One chunk of the stream: "image ready" running then succeeded, "disk" running.
    log.add("image ready", "running", undefined, t(1));
    log.add("image ready", "succeeded", "cached", t(2));
    log.add("disk", "running", undefined, t(3));
    // Written after the chunk's callbacks (settle() waits for the write under way).
    await tick();
    expect(await log.settle()).toEqual([]);
    let rows = await steps(task.id);
    expect(rows[1]).toMatchObject({ status: "succeeded", message: "cached", startedAt: t(1), finishedAt: t(2) });
    expect(rows[2]).toMatchObject({ status: "running", startedAt: t(3), finishedAt: null });

    // Events not written yet when the answer ends are the caller's to write (in its final transaction).
    log.add("disk", "failed", "no space", t(4));
    log.add(2, "skipped", undefined, t(5));
    const pending = await log.settle();
    expect(pending).toHaveLength(2);
    expect(pending[0]).toMatchObject({
      where: { taskId: task.id, name: "disk" },
      data: { status: "failed", message: "no space", finishedAt: t(4) },
    });
    expect(pending[1]).toMatchObject({ where: { taskId: task.id, position: 2 }, data: { status: "skipped" } });
    await tick();
    rows = await steps(task.id);
    expect(rows[2]!.status).toBe("running"); // handed back, so not written by the log itself
    expect(errors).toEqual([]);
  });
});
