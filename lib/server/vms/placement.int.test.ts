import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import type { TestDatabase } from "../../../prisma/test-db";
import { db } from "../platform";
import { createVm, deleteVm, kernelCmdline } from ".";
import { previewPlacement } from "./placement";
import type { Actor } from "../platform";

// An admin: VMs of an actor in no project go to the default project (lib/server/vms/access.ts).
const actor: Actor = { id: "u1", email: "op@t.test", name: "Op", role: "admin", via: "session" };
const who = { actor, clientIp: null };

async function host(name: string, arch: "x86_64" | "aarch64", cpus: number, extra: Record<string, unknown> = {}) {
  return db().host.create({
    data: {
      name,
      arch,
      cpuCount: cpus,
      memoryMb: 65536,
      diskGb: 1000,
      status: "online",
      cpuAllocationRatio: 1,
      ramAllocationRatio: 1,
      nativeArches: JSON.stringify([arch]),
      emulatedArches: JSON.stringify([arch === "x86_64" ? "aarch64" : "x86_64"]),
      agentUrl: "http://127.0.0.1:9",
      ...extra,
    },
  });
}

async function image(arch: "x86_64" | "aarch64") {
  return db().image.create({
    data: { name: `img-${arch}`, arch, format: "kernel", status: "ready", minMemoryMb: 64, minDiskGb: 1 },
  });
}

const vmInput = (imageId: string, arch: "x86_64" | "aarch64", name: string, extra: Record<string, unknown> = {}) => ({
  name,
  arch,
  imageId,
  vcpus: 1,
  memoryMb: 256,
  diskGb: 1,
  networkId: null,
  allowEmulation: false,
  strategy: "spread" as const,
  ...extra,
});

describe.each(PROVIDERS)("placement on %s", (provider) => {
  let database: TestDatabase | undefined;
  beforeEach(async () => {
    database = await useFreshDatabase(provider);
  });
  afterEach(async () => {
    await releaseDatabase(database);
  });

  it("N parallel creates against a host that fits fewer than N: exactly as many succeed as fit", async () => {
    const h = await host("arm-1", "aarch64", 4);
    const img = await image("aarch64");
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => createVm(vmInput(img.id, "aarch64", `par-${i}`), who, { provision: false })),
    );
    const ok = results.filter((r) => r.status === "fulfilled");
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(ok).toHaveLength(4);
    for (const f of failed) expect(f.reason).toMatchObject({ code: "conflict" });
    const after = await db().host.findUniqueOrThrow({ where: { id: h.id } });
    expect(after.allocatedCpus).toBe(4);
    expect(await db().vm.count()).toBe(4);
  });

  it("an aarch64 VM goes only to the aarch64 host; the preview says why the x86_64 host was rejected", async () => {
    await host("x86-1", "x86_64", 8);
    const arm = await host("arm-1", "aarch64", 8);
    const img = await image("aarch64");
    const preview = await previewPlacement({
      arch: "aarch64",
      vcpus: 2,
      memoryMb: 512,
      diskGb: 1,
      allowEmulation: false,
      strategy: "spread",
    });
    expect(preview.chosen?.name).toBe("arm-1");
    expect(preview.rejected.find((r) => r.name === "x86-1")?.reasons.join(" ")).toMatch(/x86_64/);
    const created = await createVm(vmInput(img.id, "aarch64", "arm-vm", { vcpus: 2 }), who, { provision: false });
    expect(created.host.id).toBe(arm.id);
    expect(created.vm.emulated).toBe(false);
  });

  const emulationTitle =
    "with only x86_64 hosts an aarch64 VM fails without emulation (naming the arches) and leaves nothing; " +
    "with emulation it is placed and marked";
  it(emulationTitle, async () => {
    const x = await host("x86-1", "x86_64", 8);
    const img = await image("aarch64");
    const err = await createVm(vmInput(img.id, "aarch64", "nope"), who, { provision: false }).catch((e) => e);
    expect(err.code).toBe("conflict");
    expect(err.message).toMatch(/aarch64/);
    expect(err.message).toMatch(/x86_64/);
    expect(await db().vm.count()).toBe(0);
    expect(await db().task.count()).toBe(0);
    expect((await db().host.findUniqueOrThrow({ where: { id: x.id } })).allocatedCpus).toBe(0);

    const ok = await createVm(vmInput(img.id, "aarch64", "emu", { allowEmulation: true }), who, { provision: false });
    expect(ok.vm.emulated).toBe(true);
    expect(ok.host.id).toBe(x.id);
  });

  it("the server rejects an image/arch mismatch, an unknown image and a size above every host", async () => {
    await host("x86-1", "x86_64", 4);
    const img = await image("aarch64");
    await expect(createVm(vmInput(img.id, "x86_64", "mismatch"), who, { provision: false })).rejects.toMatchObject({
      code: "unprocessable",
      message: expect.stringMatching(/aarch64.*x86_64/),
    });
    await expect(
      createVm(vmInput("no-such-image", "x86_64", "ghost"), who, { provision: false }),
    ).rejects.toMatchObject({ code: "not_found" });
    const x86img = await image("x86_64");
    await expect(
      createVm(vmInput(x86img.id, "x86_64", "huge", { vcpus: 64 }), who, { provision: false }),
    ).rejects.toMatchObject({ code: "conflict" });
    expect(await db().vm.count()).toBe(0);
  });

  it("maintenance and disabled hosts take no new VMs", async () => {
    await host("arm-m", "aarch64", 8, { adminState: "maintenance" });
    await host("arm-d", "aarch64", 8, { adminState: "disabled" });
    const img = await image("aarch64");
    const err = await createVm(vmInput(img.id, "aarch64", "x"), who, { provision: false }).catch((e) => e);
    expect(err.code).toBe("conflict");
    const preview = await previewPlacement({
      arch: "aarch64",
      vcpus: 1,
      memoryMb: 256,
      diskGb: 1,
      allowEmulation: false,
      strategy: "spread",
    });
    expect(preview.rejected.map((r) => r.reasons.join(" ")).join(" | ")).toMatch(
      /maintenance.*\|.*disabled|disabled.*\|.*maintenance/,
    );
  });

  it("deleting a VM whose agent is gone fails cleanly and keeps the reservation; a never-placed VM deletes at once", async () => {
    const h = await host("arm-1", "aarch64", 4);
    const img = await image("aarch64");
    const { vm } = await createVm(vmInput(img.id, "aarch64", "d1"), who, { provision: false });
    await db().vm.update({ where: { id: vm.id }, data: { status: "running" } });
    await expect(deleteVm(vm.id, who)).rejects.toMatchObject({ code: "unavailable" });
    expect((await db().vm.findUniqueOrThrow({ where: { id: vm.id } })).status).toBe("error");
    expect((await db().host.findUniqueOrThrow({ where: { id: h.id } })).allocatedCpus).toBe(1);
  });
});

describe("image families in VM create", () => {
  let database: TestDatabase | undefined;
  beforeEach(async () => {
    database = await useFreshDatabase("sqlite");
  });
  afterEach(async () => {
    await releaseDatabase(database);
  });

  it("a family resolves to the build for the VM's arch; a missing build names what exists", async () => {
    await host("arm-1", "aarch64", 4);
    const arm = await db().image.create({
      data: { name: "deb-arm", family: "debian-12", arch: "aarch64", format: "kernel", status: "ready" },
    });
    await db().image.create({
      data: { name: "deb-x86", family: "debian-12", arch: "x86_64", format: "kernel", status: "ready" },
    });
    const { vm } = await createVm(
      { ...vmInput("", "aarch64", "fam-1"), imageId: undefined, family: "debian-12" },
      who,
      { provision: false },
    );
    expect(vm.image?.id).toBe(arm.id);
    await db().image.deleteMany({ where: { arch: "x86_64" } });
    await host("x86-1", "x86_64", 4);
    await expect(
      createVm({ ...vmInput("", "x86_64", "fam-2"), imageId: undefined, family: "debian-12" }, who, {
        provision: false,
      }),
    ).rejects.toMatchObject({ message: expect.stringMatching(/aarch64/) });
  });
});

describe("kernelCmdline", () => {
  it.each([
    ["console=ttyS0 panic=-1", [], "console=ttyS0 panic=-1"],
    ["console=ttyS0", [{ ip: "10.0.0.5", prefixLength: 24 }], "console=ttyS0 polyarch.ip=10.0.0.5/24"],
    [
      "console=ttyS0 polyarch.ip=1.2.3.4/8",
      [
        { ip: "10.0.0.5", prefixLength: 24 },
        { ip: "10.1.0.5", prefixLength: 16 },
      ],
      "console=ttyS0 polyarch.ip=10.0.0.5/24,10.1.0.5/16",
    ],
    ["console=ttyS0", [{ ip: undefined, prefixLength: undefined }], "console=ttyS0"],
  ])("%s + %j", (base, nics, expected) => expect(kernelCmdline(base, nics)).toBe(expected));
});
