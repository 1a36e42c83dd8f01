// Retry of a failed create: the VM is claimed in the placement transaction only while it is still
// failed and unplaced, so two retries at once place it once and reserve capacity once.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import type { TestDatabase } from "../../../prisma/test-db";
import { db, type Actor } from "../platform";
import { createVm, vmAction } from ".";
import { releaseHost } from "./placement";

const actor: Actor = { id: "u1", email: "op@t.test", name: "Op", role: "admin", via: "session" };
const who = { actor, clientIp: null };

async function host(name: string) {
  return db().host.create({
    data: {
      name,
      arch: "aarch64",
      cpuCount: 8,
      memoryMb: 65536,
      diskGb: 1000,
      status: "online",
      cpuAllocationRatio: 1,
      ramAllocationRatio: 1,
      nativeArches: JSON.stringify(["aarch64"]),
      emulatedArches: JSON.stringify(["x86_64"]),
      agentUrl: "http://127.0.0.1:9",
    },
  });
}

/** A create whose provisioning failed, as failProvisioning leaves it: error, no host, nothing reserved. */
async function failedVm() {
  const img = await db().image.create({
    data: { name: "img", arch: "aarch64", format: "kernel", status: "ready", minMemoryMb: 64, minDiskGb: 1 },
  });
  const input = {
    name: "retry-me",
    arch: "aarch64" as const,
    imageId: img.id,
    vcpus: 3,
    memoryMb: 512,
    diskGb: 2,
    networkId: null,
    allowEmulation: false,
    strategy: "spread" as const,
  };
  const { vm, task } = await createVm(input, who, { provision: false });
  const row = await db().vm.findUniqueOrThrow({ where: { id: vm.id } });
  await releaseHost(row.hostId!, row);
  await db().task.update({ where: { id: task.id }, data: { status: "failed", finishedAt: new Date() } });
  await db().vm.update({ where: { id: vm.id }, data: { status: "error", hostId: null, lastError: "disk full" } });
  return row;
}

describe.each(PROVIDERS)("retry of a failed create on %s", (provider) => {
  let database: TestDatabase | undefined;
  beforeEach(async () => {
    database = await useFreshDatabase(provider);
  });
  afterEach(async () => {
    await releaseDatabase(database);
  });

  it("two retries at once: exactly one wins, the other is a conflict, capacity is reserved once", async () => {
    const hosts = [await host("arm-1"), await host("arm-2")];
    const vm = await failedVm();
    for (const h of hosts) expect((await db().host.findUniqueOrThrow({ where: { id: h.id } })).allocatedCpus).toBe(0);

    const results = await Promise.allSettled([
      vmAction(vm.id, "retry", who, { provision: false }),
      vmAction(vm.id, "retry", who, { provision: false }),
    ]);
    const won = results.filter((r) => r.status === "fulfilled");
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]!.reason).toMatchObject({ code: "conflict" });
    // Either the claim in the transaction refused it, or it came late enough to see the VM placed.
    expect(lost[0]!.reason.message).toMatch(/already being retried|Only a VM whose creation failed can be retried/);

    const after = await db().vm.findUniqueOrThrow({ where: { id: vm.id } });
    expect(after.status).toBe("creating");
    expect(after.hostId).not.toBeNull();
    const rows = await db().host.findMany({ orderBy: { name: "asc" } });
    // The VM's host holds its reservation once; the other host holds nothing.
    for (const h of rows) {
      const mine = h.id === after.hostId;
      expect([h.name, h.allocatedCpus, h.allocatedMemoryMb, h.allocatedDiskGb]).toEqual(
        mine ? [h.name, 3, 512, 2] : [h.name, 0, 0, 0],
      );
    }
    // One new create task (besides the failed one), not two.
    expect(await db().task.count({ where: { vmId: vm.id, kind: "vm.create", status: { not: "failed" } } })).toBe(1);
    // The winner's own writes after its transaction survive the loser (no rollback undid them).
    const task = await db().task.findFirstOrThrow({
      where: { vmId: vm.id, kind: "vm.create", status: { not: "failed" } },
      include: { steps: { orderBy: { position: "asc" } } },
    });
    expect(task.hostId).toBe(after.hostId);
    expect(task.steps[0]).toMatchObject({ name: "scheduled", status: "succeeded" });
    expect(await db().auditEvent.count({ where: { action: "vm.retry", result: "success" } })).toBe(1);
  });

  it("a retry after another placed the VM is a conflict and reserves nothing more", async () => {
    await host("arm-1");
    const vm = await failedVm();
    await vmAction(vm.id, "retry", who, { provision: false });
    await expect(vmAction(vm.id, "retry", who, { provision: false })).rejects.toMatchObject({ code: "conflict" });
    expect((await db().host.findFirstOrThrow()).allocatedCpus).toBe(3);
  });
});
