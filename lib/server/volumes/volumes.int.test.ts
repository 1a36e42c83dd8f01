// Volumes, CD media and resize against real databases (issue 13): the host claims, every 409 with
// its reason, project scoping and roles, and that a failed agent call leaves nothing behind. The
// hosts here have no agent behind them (nothing listens on their address): the agent call is
// really made and really fails; the success path with a real agent is volumes-agent.int.test.ts.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import type { TestDatabase } from "../../../prisma/test-db";
import { db, type Actor } from "../platform";
import { createProject, deleteProject } from "../projects";
import { insertTestHost, insertTestImage, insertTestUser } from "../testing/rows";
import { bootFor, claimHostDelta, createVm, ejectMedia, insertMedia, resizeVm, specFor } from "../vms";
import { createVolumeSchema } from "../../schemas/volumes";
import {
  attachVolume,
  createVolume,
  deleteVolume,
  detachVolume,
  getVolume,
  growVolume,
  listVolumes,
  requireVolumeAccess,
} from ".";

const user = insertTestUser;

const who = (actor: Actor) => ({ actor, clientIp: "127.0.0.1" });

describe.each(PROVIDERS)("volumes, media and resize on %s", (provider) => {
  let database: TestDatabase | undefined;
  let admin: Actor, opA: Actor, opB: Actor, viewerA: Actor;
  let projectA: string, projectB: string;
  let hostA: string, hostB: string, imageId: string;
  let vmA: string, vmOnB: string;

  beforeEach(async () => {
    database = await useFreshDatabase(provider);
    admin = await user("admin@v.test", "admin", []);
    projectA = (await createProject({ name: "alpha", description: null }, who(admin))).id;
    projectB = (await createProject({ name: "beta", description: null }, who(admin))).id;
    opA = await user("opa@v.test", "operator", [projectA]);
    opB = await user("opb@v.test", "operator", [projectB]);
    viewerA = await user("viewera@v.test", "viewer", [projectA]);
    // Host A: 100 GiB of disk (10 reserved), 8 CPUs, 8 GiB; host B elsewhere. Neither has an agent.
    hostA = (
      await insertTestHost({
        name: "host-a",
        diskGb: 100,
        reservedDiskGb: 10,
        cpuCount: 8,
        memoryMb: 8192,
        maxVcpusNative: 4,
      })
    ).id;
    hostB = (await insertTestHost({ name: "host-b", diskGb: 1000 })).id;
    imageId = (await insertTestImage()).id;
    const vmInput = (name: string, projectId: string) => ({
      name,
      arch: "x86_64" as const,
      imageId,
      vcpus: 1,
      memoryMb: 256,
      diskGb: 5,
      networkId: null,
      allowEmulation: false,
      strategy: "pack" as const,
      projectId,
    });
    // vm-a on host A, vm-b on host B: the other host is out of placement for each create.
    await db().host.update({ where: { id: hostB }, data: { adminState: "disabled" } });
    vmA = (await createVm(vmInput("vm-a", projectA), who(admin), { provision: false })).vm.id;
    await db().host.update({ where: { id: hostB }, data: { adminState: "enabled" } });
    await db().host.update({ where: { id: hostA }, data: { adminState: "disabled" } });
    vmOnB = (await createVm(vmInput("vm-b", projectA), who(admin), { provision: false })).vm.id;
    await db().host.update({ where: { id: hostA }, data: { adminState: "enabled" } });
    await db().vm.updateMany({ data: { status: "running", powerState: "running" } });
  });
  afterEach(async () => {
    await releaseDatabase(database);
  });

  const hostRow = (id: string) =>
    db().host.findUniqueOrThrow({
      where: { id },
      select: { allocatedCpus: true, allocatedMemoryMb: true, allocatedDiskGb: true },
    });
  const input = (o: Record<string, unknown>) => createVolumeSchema.parse({ name: "data", sizeGb: 10, ...o });

  it("a volume on a host claims its size; a failed agent call leaves no row and no claim", async () => {
    const before = await hostRow(hostA);
    expect(before.allocatedDiskGb).toBe(5);
    const err = await createVolume(input({ hostId: hostA, projectId: projectA }), who(opA)).catch((e) => e);
    expect(err).toMatchObject({ code: "unavailable" });
    expect(err.message).toMatch(/host-a.*not reachable/);
    expect(await db().volume.count()).toBe(0);
    expect(await hostRow(hostA)).toEqual(before);
    const task = await db().task.findFirstOrThrow({
      where: { kind: "volume.create" },
      include: { steps: { orderBy: { position: "asc" } } },
    });
    expect(task.status).toBe("failed");
    expect(task.steps.map((s) => [s.name, s.status])).toEqual([
      ["claim capacity", "succeeded"],
      ["create on host", "failed"],
    ]);
    expect(await db().auditEvent.count({ where: { action: "volume.create", result: "error", userId: opA.id } })).toBe(
      1,
    );
  });

  it("409 with the reason when the host lacks the room; nothing changes", async () => {
    const before = await hostRow(hostA);
    // 100 GiB − 10 reserved − 5 (vm-a) = 85 free.
    const err = await createVolume(input({ hostId: hostA, sizeGb: 86 }), who(opA)).catch((e) => e);
    expect(err).toMatchObject({ code: "conflict", status: 409 });
    expect(err.message).toBe("A 86 GiB volume does not fit on host host-a: needs 86 GiB more disk, 85 free.");
    expect(await db().volume.count()).toBe(0);
    expect(await hostRow(hostA)).toEqual(before);
  });

  it("unplaced volumes claim nothing, grow freely, and delete without an agent", async () => {
    const v = await createVolume(input({ projectId: projectA }), who(opA));
    expect(v).toMatchObject({ status: "available", host: null, vm: null, sizeGb: 10, project: { id: projectA } });
    expect((await hostRow(hostA)).allocatedDiskGb).toBe(5);
    expect((await growVolume(v.id, 20, who(opA))).sizeGb).toBe(20);
    await expect(growVolume(v.id, 19, who(opA))).rejects.toMatchObject({
      code: "conflict",
      message: "Volumes only grow: data has 20 GiB, 19 GiB would shrink it.",
    });
    expect(await deleteVolume(v.id, who(opA))).toEqual({ id: v.id, deleted: true });
    expect(await db().volume.count()).toBe(0);
    expect((await db().task.findMany({ where: { kind: "volume.delete" } })).map((t) => t.status)).toEqual([
      "succeeded",
    ]);
  });

  it("a volume busy in another operation cannot be deleted, unless that operation was abandoned long ago", async () => {
    const busy = await db().volume.create({
      data: { name: "busy", sizeGb: 4, hostId: hostA, projectId: projectA, status: "creating" },
    });
    await expect(deleteVolume(busy.id, who(opA))).rejects.toMatchObject({
      code: "conflict",
      message: "Volume busy is creating; try again when it is available.",
    });
    // 30 minutes later: a controller died mid-create. Its claim (4 GiB) goes with the volume.
    await db().host.update({ where: { id: hostA }, data: { allocatedDiskGb: { increment: 4 } } });
    await db().volume.update({ where: { id: busy.id }, data: { updatedAt: new Date(Date.now() - 30 * 60_000) } });
    // The agent is down here: the delete reaches it, fails, and marks the volume error (claim kept).
    await expect(deleteVolume(busy.id, who(opA))).rejects.toMatchObject({ code: "unavailable" });
    expect(await db().volume.findUniqueOrThrow({ where: { id: busy.id } })).toMatchObject({
      status: "error",
      lastError: expect.stringMatching(/^Delete failed: /),
    });
    expect((await hostRow(hostA)).allocatedDiskGb).toBe(9);
  });

  it("a project with a volume cannot be deleted (409 naming it), and can once the volume is gone", async () => {
    const gamma = (await createProject({ name: "gamma", description: null }, who(admin))).id;
    const v = await createVolume(input({ projectId: gamma }), who(admin));
    await expect(deleteProject(gamma, who(admin))).rejects.toMatchObject({
      code: "conflict",
      message: "Project gamma still has 1 volume; delete or move it first.",
    });
    await deleteVolume(v.id, who(admin));
    expect(await deleteProject(gamma, who(admin))).toEqual({ id: gamma, deleted: true });
  });

  it("a volume attaches only to a VM on its host (409 saying so), of its project; delete is refused while attached", async () => {
    const onA = await db().volume.create({
      data: { name: "on-a", sizeGb: 3, hostId: hostA, projectId: projectA, status: "available" },
    });
    const err = await attachVolume(vmOnB, onA.id, who(opA)).catch((e) => e);
    expect(err).toMatchObject({ code: "conflict" });
    expect(err.message).toBe(
      "Volume on-a lives on host host-a and vm-b runs on host host-b: a volume attaches only to VMs on its host.",
    );
    const otherProject = await db().volume.create({
      data: { name: "of-b", sizeGb: 3, hostId: hostA, projectId: projectB, status: "available" },
    });
    await expect(attachVolume(vmA, otherProject.id, who(admin))).rejects.toMatchObject({
      code: "conflict",
      message: "Volume of-b belongs to another project than vm-a; a volume attaches only to VMs of its project.",
    });
    const attached = await db().volume.create({
      data: { name: "in-use", sizeGb: 3, hostId: hostA, vmId: vmA, projectId: projectA, status: "in-use" },
    });
    await expect(deleteVolume(attached.id, who(opA))).rejects.toMatchObject({
      code: "conflict",
      message: "Volume in-use is attached to vm-a; detach it first.",
    });
    await expect(attachVolume(vmA, attached.id, who(opA))).rejects.toMatchObject({ code: "conflict" });
    expect(await db().volume.findUniqueOrThrow({ where: { id: attached.id } })).toMatchObject({
      vmId: vmA,
      status: "in-use",
    });
  });

  it("attach/detach with the agent down: rows, claim and spec are as before", async () => {
    const unplaced = await createVolume(input({ projectId: projectA, sizeGb: 7 }), who(opA));
    const before = await hostRow(hostA);
    await expect(attachVolume(vmA, unplaced.id, who(opA))).rejects.toMatchObject({ code: "unavailable" });
    expect(await db().volume.findUniqueOrThrow({ where: { id: unplaced.id } })).toMatchObject({
      hostId: null,
      vmId: null,
      status: "available",
    });
    expect(await hostRow(hostA)).toEqual(before);
    const task = await db().task.findFirstOrThrow({
      where: { kind: "volume.attach" },
      include: { steps: { orderBy: { position: "asc" } } },
    });
    expect(task.steps.map((s) => [s.name, s.status])).toEqual([
      ["check", "succeeded"],
      ["claim capacity", "succeeded"],
      ["create on host", "failed"],
      ["attach", "skipped"],
    ]);
    const attached = await db().volume.create({
      data: { name: "att", sizeGb: 3, hostId: hostA, vmId: vmA, projectId: projectA, status: "in-use" },
    });
    await expect(detachVolume(vmA, attached.id, who(opA))).rejects.toMatchObject({ code: "unavailable" });
    expect(await db().volume.findUniqueOrThrow({ where: { id: attached.id } })).toMatchObject({
      vmId: vmA,
      status: "in-use",
    });
  });

  it("grow claims the difference atomically: beyond the room is 409 and changes nothing; agent down rolls back", async () => {
    const v = await db().volume.create({
      data: { name: "g", sizeGb: 10, hostId: hostA, projectId: projectA, status: "available" },
    });
    await db().host.update({ where: { id: hostA }, data: { allocatedDiskGb: 15 } });
    const err = await growVolume(v.id, 86, who(opA)).catch((e) => e);
    expect(err).toMatchObject({ code: "conflict" });
    expect(err.message).toBe(
      "Growing volume g to 86 GiB does not fit on host host-a: needs 76 GiB more disk, 75 free.",
    );
    expect((await hostRow(hostA)).allocatedDiskGb).toBe(15);
    await expect(growVolume(v.id, 20, who(opA))).rejects.toMatchObject({ code: "unavailable" });
    expect(await db().volume.findUniqueOrThrow({ where: { id: v.id } })).toMatchObject({
      sizeGb: 10,
      status: "available",
    });
    expect((await hostRow(hostA)).allocatedDiskGb).toBe(15);
    // The claim is one conditional UPDATE: of two claims for the last room, exactly one wins.
    const claims = await Promise.all([
      claimHostDelta(db(), hostA, { vcpus: 0, memoryMb: 0, diskGb: 70 }),
      claimHostDelta(db(), hostA, { vcpus: 0, memoryMb: 0, diskGb: 70 }),
    ]);
    expect(claims.sort()).toEqual([false, true]);
    expect((await hostRow(hostA)).allocatedDiskGb).toBe(85);
  });

  it("roles and projects: viewers read but may not act (403); another project's volume is 404; lists are scoped", async () => {
    const v = await createVolume(input({ projectId: projectA }), who(opA));
    expect((await listVolumes(viewerA)).items.map((x) => x.name)).toEqual(["data"]);
    expect((await listVolumes(opB)).items).toEqual([]);
    expect((await listVolumes(admin)).items).toHaveLength(1);
    expect(await requireVolumeAccess(viewerA, v.id, "read")).toMatchObject({ id: v.id });
    for (const op of [
      () => growVolume(v.id, 30, who(viewerA)),
      () => deleteVolume(v.id, who(viewerA)),
      () => attachVolume(vmA, v.id, who(viewerA)),
    ])
      await expect(op()).rejects.toMatchObject({ code: "forbidden" });
    const missing = await requireVolumeAccess(opB, "no-such", "read").catch((e) => e);
    for (const op of [
      () => requireVolumeAccess(opB, v.id, "read"),
      () => growVolume(v.id, 30, who(opB)),
      () => deleteVolume(v.id, who(opB)),
    ]) {
      const e = await op().catch((x) => x);
      expect(e).toMatchObject({ code: "not_found" });
      expect(e.message).toBe(missing.message.replace("no-such", v.id));
    }
    // Creating into another project, or for a VM one cannot see: 404, nothing made.
    await expect(createVolume(input({ projectId: projectA }), who(opB))).rejects.toMatchObject({ code: "not_found" });
    await expect(createVolume(input({ vmId: vmA }), who(opB))).rejects.toMatchObject({ code: "not_found" });
    expect(await getVolume(v.id)).toMatchObject({ sizeGb: 10 });
    expect(await db().volume.count()).toBe(1);
    expect(
      await db().auditEvent.count({ where: { userId: opB.id, result: "denied", targetId: { in: [v.id, vmA] } } }),
    ).toBeGreaterThanOrEqual(4);
  });

  it("resize: vCPUs/memory only while stopped, disk only grows, the host's room and vCPU limit hold, nothing changes on refusal", async () => {
    const vmBefore = await db().vm.findUniqueOrThrow({ where: { id: vmA } });
    const hostBefore = await hostRow(hostA);
    await expect(resizeVm(vmA, { vcpus: 2 }, who(opA))).rejects.toMatchObject({
      code: "conflict",
      message: "Stop vm-a before changing its vCPUs or memory (it is running); the disk grows online.",
    });
    await expect(resizeVm(vmA, { diskGb: 4 }, who(opA))).rejects.toMatchObject({
      code: "conflict",
      message: "The disk only grows: vm-a has 5 GiB, 4 GiB would shrink it.",
    });
    const room = await resizeVm(vmA, { diskGb: 91 }, who(opA)).catch((e) => e);
    expect(room).toMatchObject({ code: "conflict" });
    expect(room.message).toBe("Resizing vm-a does not fit on host host-a: needs 86 GiB more disk, 85 free.");
    await db().vm.update({ where: { id: vmA }, data: { status: "stopped", powerState: "shutoff" } });
    await expect(resizeVm(vmA, { vcpus: 5 }, who(opA))).rejects.toMatchObject({
      code: "conflict",
      message: "5 vCPUs exceed the 4-vCPU limit of KVM for x86_64 on host host-a.",
    });
    const mem = await resizeVm(vmA, { memoryMb: 9000 }, who(opA)).catch((e) => e);
    expect(mem.message).toBe("Resizing vm-a does not fit on host host-a: needs 8744 MiB more RAM, 7936 free.");
    await expect(resizeVm(vmA, { vcpus: 2 }, who(viewerA))).rejects.toMatchObject({ code: "forbidden" });
    await expect(resizeVm(vmA, { vcpus: 2 }, who(opB))).rejects.toMatchObject({ code: "not_found" });
    // Fits, but the agent is down: the claim and the row go back.
    await expect(resizeVm(vmA, { vcpus: 2, memoryMb: 512, diskGb: 8 }, who(opA))).rejects.toMatchObject({
      code: "unavailable",
    });
    const vmAfter = await db().vm.findUniqueOrThrow({ where: { id: vmA } });
    expect([vmAfter.vcpus, vmAfter.memoryMb, vmAfter.diskGb]).toEqual([
      vmBefore.vcpus,
      vmBefore.memoryMb,
      vmBefore.diskGb,
    ]);
    expect(await hostRow(hostA)).toEqual(hostBefore);
    const tasks = await db().task.findMany({ where: { kind: "vm.resize" }, orderBy: { createdAt: "asc" } });
    expect(tasks.map((t) => t.status)).toEqual(["failed", "failed", "failed"]);
    expect(await db().auditEvent.count({ where: { action: "vm.resize", result: "error" } })).toBeGreaterThanOrEqual(5);
  });

  it("ISO installs: the spec boots the ISO from the CD drive onto a blank disk; volumes in attach order; media rules", async () => {
    const iso = await insertTestImage({ name: "installer", format: "iso", firmware: "bios", sha256: "ab".repeat(32) });
    const armIso = await insertTestImage({ name: "arm-installer", format: "iso", arch: "aarch64" });
    const created = await createVm(
      {
        name: "from-iso",
        arch: "x86_64",
        imageId: iso.id,
        vcpus: 1,
        memoryMb: 256,
        diskGb: 8,
        networkId: null,
        allowEmulation: false,
        strategy: "spread",
        projectId: projectA,
      },
      who(opA),
      { provision: false },
    );
    const vmId = created.vm.id;
    const hostId = (await db().vm.findUniqueOrThrow({ where: { id: vmId } })).hostId!;
    const older = await db().volume.create({
      data: { name: "one", sizeGb: 1, hostId, vmId, projectId: projectA, status: "in-use", createdAt: new Date(1000) },
    });
    const newer = await db().volume.create({
      data: {
        name: "two",
        sizeGb: 1,
        hostId,
        vmId,
        projectId: projectA,
        status: "attaching",
        createdAt: new Date(2000),
      },
    });
    await db().volume.create({
      data: { name: "going", sizeGb: 1, hostId, vmId, projectId: projectA, status: "detaching" },
    });
    const spec = await specFor(vmId);
    expect(spec.boot).toEqual({ type: "iso", imageId: iso.id, sha256: "ab".repeat(32), firmware: "bios" });
    expect(spec.cdrom).toEqual({ imageId: iso.id, sha256: "ab".repeat(32) });
    expect(spec.diskGb).toBe(8);
    expect(spec.volumes).toEqual([{ id: older.id }, { id: newer.id }]);
    // aarch64 `virt` boots ISOs and disks only through UEFI, whatever the image says.
    const armBoot = { id: "i", format: "iso", sha256: null, initrdSha256: null, cmdline: null, firmware: "bios" };
    expect(bootFor("aarch64", armBoot, [])).toEqual({ type: "iso", imageId: "i", sha256: undefined, firmware: "uefi" });
    expect(bootFor("x86_64", { ...armBoot, format: "raw" }, [])).toMatchObject({
      type: "disk",
      format: "raw",
      firmware: "bios",
    });
    // Media: ISOs only, of the VM's arch, visible to the caller.
    await db().vm.update({ where: { id: vmId }, data: { status: "running" } });
    await expect(insertMedia(vmId, imageId, who(opA))).rejects.toMatchObject({
      code: "unprocessable",
      message: "Image img is a kernel image, not an ISO; only ISO images go in the CD drive.",
    });
    await expect(insertMedia(vmId, armIso.id, who(opA))).rejects.toMatchObject({
      code: "unprocessable",
      message: "Image arm-installer is built for aarch64; from-iso is x86_64. Choose an x86_64 ISO.",
    });
    const secret = await insertTestImage({ name: "secret", format: "iso", visibility: "private", ownerId: opB.id });
    await expect(insertMedia(vmId, secret.id, who(opA))).rejects.toMatchObject({ code: "not_found" });
    await expect(ejectMedia(vmId, who(viewerA))).rejects.toMatchObject({ code: "forbidden" });
    // The agent is down: eject fails and the ISO stays in the drive.
    await expect(ejectMedia(vmId, who(opA))).rejects.toMatchObject({ code: "unavailable" });
    expect((await db().vm.findUniqueOrThrow({ where: { id: vmId } })).mediaImageId).toBe(iso.id);
    // A disk image makes a disk boot, with an empty drive.
    const diskSpec = await specFor(vmA);
    expect(diskSpec.boot.type).toBe("kernel");
    expect(diskSpec.cdrom).toBeUndefined();
    expect(diskSpec.volumes).toEqual([]);
  });
});
