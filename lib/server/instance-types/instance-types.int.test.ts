// Instance types on a real database (SQLite and PostgreSQL): CRUD, the arch filter, and VM create
// with a type — sizes copied, the wrong arch refused with 422 and no VM left behind, delete detaching VMs.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import type { TestDatabase } from "../../../prisma/test-db";
import { db, type Actor } from "../platform";
import { AppError } from "../../errors";
import { createInstanceTypeSchema, updateInstanceTypeSchema } from "../../schemas/instance-types";
import { createVmSchema } from "../../schemas/vms";
import { addUserToProjects } from "../projects";
import { createVm } from "../vms";
import { insertTestHost, insertTestImage } from "../testing/rows";
import {
  createInstanceType,
  deleteInstanceType,
  getInstanceType,
  listInstanceTypes,
  resolveInstanceType,
  updateInstanceType,
} from ".";

const admin: Actor = { id: "u-admin", email: "admin@t.test", name: "Admin", role: "admin", via: "session" };
const who = { actor: admin, clientIp: "127.0.0.1" };
const newType = (v: Record<string, unknown>) => createInstanceTypeSchema.parse(v);

async function rejection(p: Promise<unknown>): Promise<AppError> {
  const error = await p.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(error instanceof AppError)) throw new Error(`expected an AppError, got ${String(error)}`);
  return error;
}

describe.each(PROVIDERS)("instance types on %s", (provider) => {
  let database: TestDatabase | undefined;
  beforeEach(async () => {
    database = await useFreshDatabase(provider);
    await db().user.create({ data: { id: admin.id, email: admin.email, name: admin.name, role: "admin" } });
    await addUserToProjects(admin.id);
  });
  afterEach(async () => {
    await releaseDatabase(database);
  });

  it("creates, lists per arch, updates and deletes, auditing each change", async () => {
    const any = await createInstanceType(newType({ name: "m1.small", vcpus: 1, memoryMb: 1024, diskGb: 10 }), who);
    const arm = await createInstanceType(
      newType({ name: "m1.arm", vcpus: 2, memoryMb: 4096, diskGb: 20, arch: "arm64", description: "Kunpeng" }),
      who,
    );
    expect(any).toMatchObject({ arch: null, description: null, vmCount: 0 });
    expect(arm).toMatchObject({ arch: "aarch64", description: "Kunpeng" });

    const names = async (arch?: string) => (await listInstanceTypes({ arch })).items.map((t) => t.name);
    expect(await names()).toEqual(["m1.small", "m1.arm"]);
    expect(await names("aarch64")).toEqual(["m1.small", "m1.arm"]);
    expect(await names("x86_64")).toEqual(["m1.small"]);

    // A second type with the same name is a 409 naming it.
    const dup = await rejection(
      createInstanceType(newType({ name: "m1.arm", vcpus: 1, memoryMb: 64, diskGb: 1 }), who),
    );
    expect([dup.code, dup.message]).toEqual(["conflict", "An instance type named m1.arm already exists."]);

    const changed = await updateInstanceType(arm.id, updateInstanceTypeSchema.parse({ vcpus: 4, arch: null }), who);
    expect(changed).toMatchObject({ name: "m1.arm", vcpus: 4, memoryMb: 4096, arch: null });
    expect(await names("x86_64")).toEqual(["m1.small", "m1.arm"]);
    const renameClash = await rejection(
      updateInstanceType(arm.id, updateInstanceTypeSchema.parse({ name: "m1.small" }), who),
    );
    expect(renameClash.code).toBe("conflict");

    expect(await deleteInstanceType(any.id, who)).toEqual({ id: any.id, deleted: true });
    expect((await rejection(getInstanceType(any.id))).code).toBe("not_found");
    expect((await rejection(deleteInstanceType(any.id, who))).code).toBe("not_found");
    const audit = await db().auditEvent.findMany({
      where: { targetType: "instanceType" },
      orderBy: { createdAt: "asc" },
    });
    expect(audit.map((a) => a.action)).toEqual([
      "instanceType.create",
      "instanceType.create",
      "instanceType.update",
      "instanceType.delete",
    ]);
  });

  it("resolves by id or name and refuses another arch's type with the message the API answers", async () => {
    const arm = await createInstanceType(
      newType({ name: "m1.arm", vcpus: 2, memoryMb: 2048, diskGb: 4, arch: "aarch64" }),
      who,
    );
    expect(await resolveInstanceType("m1.arm", "aarch64")).toMatchObject({ id: arm.id, vcpus: 2 });
    expect(await resolveInstanceType(arm.id, "aarch64")).toMatchObject({ name: "m1.arm" });
    const wrong = await rejection(resolveInstanceType("m1.arm", "x86_64"));
    expect([wrong.code, wrong.status, wrong.message]).toEqual([
      "unprocessable",
      422,
      "Instance type m1.arm is for aarch64 only; choose a type for x86_64 or a custom size.",
    ]);
    const missing = await rejection(resolveInstanceType("m9.none", "x86_64"));
    expect([missing.code, missing.message]).toEqual([
      "unprocessable",
      "Instance type m9.none does not exist; list them with GET /api/v1/instance-types?arch=x86_64.",
    ]);
  });

  it("creates a VM from a type (sizes copied), refuses the wrong arch with no VM written, and a delete detaches VMs", async () => {
    await insertTestHost();
    const image = await insertTestImage();
    const type = await createInstanceType(
      newType({ name: "c1.x86", vcpus: 2, memoryMb: 512, diskGb: 3, arch: "x86_64" }),
      who,
    );
    await createInstanceType(newType({ name: "m1.arm", vcpus: 1, memoryMb: 256, diskGb: 1, arch: "aarch64" }), who);
    const base = { name: "typed", arch: "x86_64", imageId: image.id };

    const made = await createVm(createVmSchema.parse({ ...base, instanceType: "c1.x86" }), who, { provision: false });
    expect(made.vm.instanceType).toEqual({ id: type.id, name: "c1.x86" }); // the DTO names it (lists, detail)
    const row = await db().vm.findUniqueOrThrow({ where: { id: made.vm.id } });
    expect(row).toMatchObject({ vcpus: 2, memoryMb: 512, diskGb: 3, instanceTypeId: type.id });
    const audit = await db().auditEvent.findFirstOrThrow({ where: { action: "vm.create", targetId: made.vm.id } });
    expect(JSON.parse(audit.details ?? "{}")).toMatchObject({ instanceType: "c1.x86" });
    expect((await getInstanceType(type.id)).vmCount).toBe(1);

    const before = await db().vm.count();
    const wrong = await rejection(
      createVm(createVmSchema.parse({ ...base, name: "wrong", instanceType: "m1.arm" }), who, { provision: false }),
    );
    expect([wrong.status, wrong.message]).toEqual([
      422,
      "Instance type m1.arm is for aarch64 only; choose a type for x86_64 or a custom size.",
    ]);
    expect(await db().vm.count()).toBe(before);

    // Deleting a type in use: the VM keeps its sizes, its instanceTypeId becomes null (ADR 050).
    await deleteInstanceType(type.id, who);
    expect(await db().vm.findUniqueOrThrow({ where: { id: made.vm.id } })).toMatchObject({
      vcpus: 2,
      memoryMb: 512,
      diskGb: 3,
      instanceTypeId: null,
    });
  });

  it("a role without vm:customSize may only create from a type (checked on the server, audited)", async () => {
    await insertTestHost();
    const image = await insertTestImage();
    await createInstanceType(newType({ name: "m1.tiny", vcpus: 1, memoryMb: 128, diskGb: 1 }), who);
    // No role lacks vm:customSize today (admins and operators have it); a viewer-like actor stands in for a future one.
    const limited: Actor = { id: "u-lim", email: "lim@t.test", name: "Lim", role: "viewer", via: "session" };
    await db().user.create({ data: { id: limited.id, email: limited.email, name: limited.name, role: "viewer" } });
    await addUserToProjects(limited.id);
    const custom = createVmSchema.parse({
      name: "c",
      arch: "x86_64",
      imageId: image.id,
      vcpus: 1,
      memoryMb: 128,
      diskGb: 1,
    });
    const denied = await rejection(createVm(custom, { actor: limited, clientIp: null }, { provision: false }));
    expect([denied.status, denied.message]).toEqual([
      403,
      'Your role (viewer) may not do this: it needs the "vm:customSize" permission.',
    ]);
    expect(await db().auditEvent.count({ where: { action: "vm.create", result: "denied", userId: limited.id } })).toBe(
      1,
    );
    expect(await db().vm.count()).toBe(0);
  });
});
