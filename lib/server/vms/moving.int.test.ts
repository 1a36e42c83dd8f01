// While a VM is being migrated (migratingToHostId set) no other operation may change it: each is
// refused with a 409 that says why, and nothing is written (no task, no state change).
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { TestDatabase } from "../../../prisma/test-db";
import { AppError } from "../../errors";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import { insertTestHost } from "../testing/rows";
import { db } from "../platform";
import { deleteVm, vmAction } from "./operate";
import { resizeVm } from "./resize";

const who = {
  actor: { id: "admin-1", email: "a@t.test", name: "A", role: "admin" as const, via: "session" as const },
  clientIp: null,
};

describe.each(PROVIDERS)("operations on a VM that is moving, on %s", (provider) => {
  let database: TestDatabase | undefined;
  beforeEach(async () => {
    database = await useFreshDatabase(provider);
  });
  afterEach(async () => {
    await releaseDatabase(database);
  });

  it("stop, delete and resize are refused with 409 and leave no task", async () => {
    const source = await insertTestHost({ name: "src" });
    const target = await insertTestHost({ name: "dst" });
    await db().vm.create({
      data: {
        id: "vm-moving",
        name: "web-1",
        arch: "x86_64",
        vcpus: 1,
        memoryMb: 256,
        diskGb: 1,
        hostId: source.id,
        status: "running",
        powerState: "running",
        migratingToHostId: target.id,
      },
    });
    const refusals = [
      vmAction("vm-moving", "stop", who),
      deleteVm("vm-moving", who),
      resizeVm("vm-moving", { diskGb: 2 }, who),
    ];
    for (const p of refusals) {
      const err = await p.then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe("conflict");
      expect((err as AppError).message).toMatch(/web-1 is moving to another host/);
    }
    expect(await db().task.count()).toBe(0);
    const vm = await db().vm.findUniqueOrThrow({ where: { id: "vm-moving" } });
    expect([vm.status, vm.diskGb, vm.hostId]).toEqual(["running", 1, source.id]);
    // Once the move is over the same stop goes through to a task.
    await db().vm.update({ where: { id: "vm-moving" }, data: { migratingToHostId: null } });
    await vmAction("vm-moving", "stop", who).catch(() => {});
    expect(await db().task.count()).toBe(1);
  });
});
