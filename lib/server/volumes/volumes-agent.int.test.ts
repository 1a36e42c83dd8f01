// Volumes and resize against a REAL agent (in-process, --insecure-http on loopback, real QEMU and
// qemu-img): the controller's rows and host claims and the agent's files and specs agree after
// create-and-attach, grow, detach, delete and resize. The guest is a zero "kernel" under TCG: QEMU
// runs (block_resize and spec changes are real), but no guest OS answers PCIe hot-unplug, so
// detach and vCPU/memory changes run on the stopped VM; the e2e (e2e/storage-volumes.spec.ts)
// proves hot-plug and data inside real guests.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import { startFrontedAgent, type FrontedAgent } from "../testing/agent-front";
import type { TestDatabase } from "../../../prisma/test-db";
import { db } from "../platform";
import { createVm, deleteVm, ejectMedia, insertMedia, resizeVm, vmAction } from "../vms";
import { createVolumeSchema } from "../../schemas/volumes";
import { attachVolume, createVolume, deleteVolume, detachVolume, getVolume, growVolume } from ".";
import { which } from "../../../agent/src/host";

const haveQemu = Boolean(which("qemu-system-aarch64") && which("qemu-img") && which("genisoimage"));
const KERNEL = Buffer.alloc(64 * 1024);
const SHA = crypto.createHash("sha256").update(KERNEL).digest("hex");
const admin = {
  actor: { id: "admin-1", email: "a@t.test", name: "A", role: "admin" as const, via: "session" as const },
  clientIp: null,
};

describe.skipIf(!haveQemu).each(PROVIDERS)(
  `volumes and resize with a real agent (%s)${haveQemu ? "" : " — skipped: qemu-system-aarch64 not installed"}`,
  (provider) => {
    let database: TestDatabase | undefined;
    let host: FrontedAgent | null = null;
    /** image files the stand-in controller serves to the agent ("<imageId>/disk" for ISOs) */
    const files = new Map<string, Buffer>();
    const until = <T>(fn: () => T | Promise<T>, what: string, ms?: number) => host!.until(fn, what, ms);
    const onAgent = (p: string) => host!.agentGet(p);
    const agentVolumes = async () =>
      ((await onAgent("/v1/volumes")).body.volumes as { id: string; sizeGb: number; attachedTo: string | null }[]) ??
      [];
    const allocated = async () =>
      db().host.findFirstOrThrow({ select: { allocatedCpus: true, allocatedMemoryMb: true, allocatedDiskGb: true } });

    beforeAll(async () => {
      database = await useFreshDatabase(provider);
      host = await startFrontedAgent("volumes", KERNEL, files);
      await until(async () => (await db().host.findFirst())?.status === "online", "the host online");
    });

    afterAll(async () => {
      // Guests first (a guestless VM never acknowledges a PCIe unplug), then volumes, then VMs.
      const vms = await db()
        .vm.findMany({ select: { id: true } })
        .catch(() => []);
      for (const vm of vms) await vmAction(vm.id, "poweroff", admin).catch(() => {});
      const volumes = await db()
        .volume.findMany({ select: { id: true, vmId: true } })
        .catch(() => []);
      for (const v of volumes) if (v.vmId) await detachVolume(v.vmId, v.id, admin).catch(() => {});
      for (const v of volumes) await deleteVolume(v.id, admin).catch(() => {});
      for (const vm of vms) await deleteVm(vm.id, admin).catch(() => {});
      await host?.stop();
      await releaseDatabase(database);
    });

    it("create-and-attach, grow online, resize the disk online, then vCPUs/memory while stopped, detach and delete", async () => {
      const image = await db().image.create({
        data: { name: "zero-kernel", arch: "aarch64", format: "kernel", status: "ready", sha256: SHA, cmdline: "" },
      });
      const created = await createVm(
        {
          name: "vol-vm",
          arch: "aarch64",
          imageId: image.id,
          vcpus: 1,
          memoryMb: 128,
          diskGb: 1,
          networkId: null,
          allowEmulation: true,
          strategy: "spread",
        },
        admin,
      );
      const vmId = created.vm.id;
      await until(async () => (await db().vm.findUnique({ where: { id: vmId } }))?.status === "running", "VM running");
      const { pid } = (await onAgent(`/v1/vms/${vmId}`)).body as { pid?: number };
      if (pid) host!.pids.add(pid);
      expect(await allocated()).toMatchObject({ allocatedCpus: 1, allocatedMemoryMb: 128, allocatedDiskGb: 1 });

      // Create-and-attach on the running VM: hot-plugged; the file is on the agent, in the VM's spec.
      const vol = await createVolume(createVolumeSchema.parse({ name: "data", sizeGb: 2, vmId }), admin);
      expect(vol).toMatchObject({ status: "in-use", sizeGb: 2, vm: { id: vmId }, host: { arch: expect.any(String) } });
      expect(await agentVolumes()).toEqual([expect.objectContaining({ id: vol.id, sizeGb: 2, attachedTo: vmId })]);
      expect((await allocated()).allocatedDiskGb).toBe(3);
      const createTask = await db().task.findFirstOrThrow({
        where: { kind: "volume.create" },
        include: { steps: { orderBy: { position: "asc" } } },
      });
      expect(createTask.status, JSON.stringify(createTask.steps)).toBe("succeeded");
      expect(createTask.steps.find((s) => s.name === "attach")?.message).toBe("hot-plugged");

      // Grow online: the agent's file has the new size; the claim follows.
      expect((await growVolume(vol.id, 3, admin)).sizeGb).toBe(3);
      expect((await agentVolumes())[0]).toMatchObject({ sizeGb: 3 });
      expect((await allocated()).allocatedDiskGb).toBe(4);

      // The root disk grows online (block_resize); vCPUs need the VM stopped.
      const grown = await resizeVm(vmId, { diskGb: 2 }, admin);
      expect(grown).toMatchObject({ diskGb: 2, status: "running" });
      expect((await allocated()).allocatedDiskGb).toBe(5);
      await expect(resizeVm(vmId, { vcpus: 2 }, admin)).rejects.toMatchObject({ code: "conflict" });

      await vmAction(vmId, "poweroff", admin);
      await until(async () => (await db().vm.findUnique({ where: { id: vmId } }))?.status === "stopped", "VM stopped");
      const resized = await resizeVm(vmId, { vcpus: 2, memoryMb: 256 }, admin);
      expect(resized).toMatchObject({ vcpus: 2, memoryMb: 256, status: "stopped" });
      expect((await onAgent(`/v1/vms/${vmId}`)).body).toMatchObject({ vcpus: 2, memoryMb: 256 });
      expect(await allocated()).toMatchObject({ allocatedCpus: 2, allocatedMemoryMb: 256, allocatedDiskGb: 5 });

      // Delete is refused while attached; detach (stopped VM) frees it; delete gives the room back.
      await expect(deleteVolume(vol.id, admin)).rejects.toMatchObject({ code: "conflict" });
      expect(await detachVolume(vmId, vol.id, admin)).toMatchObject({ status: "available", vm: null });
      expect((await agentVolumes())[0]).toMatchObject({ id: vol.id, attachedTo: null });
      // Re-attach (same host), detach again: the file and its size are the same one.
      expect(await attachVolume(vmId, vol.id, admin)).toMatchObject({ status: "in-use" });
      expect((await agentVolumes())[0]).toMatchObject({ id: vol.id, sizeGb: 3, attachedTo: vmId });
      await detachVolume(vmId, vol.id, admin);
      expect(await deleteVolume(vol.id, admin)).toEqual({ id: vol.id, deleted: true });
      expect(await agentVolumes()).toEqual([]);
      expect((await allocated()).allocatedDiskGb).toBe(2);

      // An unplaced volume takes the VM's host at its first attach and claims its size there.
      const unplaced = await createVolume(createVolumeSchema.parse({ name: "later", sizeGb: 1 }), admin);
      expect(unplaced.host).toBeNull();
      expect((await attachVolume(vmId, unplaced.id, admin)).host).not.toBeNull();
      expect((await allocated()).allocatedDiskGb).toBe(3);
      expect(await agentVolumes()).toEqual([expect.objectContaining({ id: unplaced.id, attachedTo: vmId })]);
    });

    it("a VM deleted with a volume attached leaves the volume on its host, available, still claiming its disk", async () => {
      const image = await db().image.findFirstOrThrow({ where: { name: "zero-kernel" } });
      const created = await createVm(
        {
          name: "short-lived",
          arch: "aarch64",
          imageId: image.id,
          vcpus: 1,
          memoryMb: 128,
          diskGb: 1,
          networkId: null,
          allowEmulation: true,
          strategy: "spread",
        },
        admin,
      );
      const vmId = created.vm.id;
      await until(async () => (await db().vm.findUnique({ where: { id: vmId } }))?.status === "running", "VM running");
      const { pid } = (await onAgent(`/v1/vms/${vmId}`)).body as { pid?: number };
      if (pid) host!.pids.add(pid);
      const vol = await createVolume(createVolumeSchema.parse({ name: "survivor", sizeGb: 1, vmId }), admin);
      const before = (await allocated()).allocatedDiskGb;
      await deleteVm(vmId, admin);
      expect(await getVolume(vol.id)).toMatchObject({ status: "available", vm: null, host: vol.host });
      expect((await agentVolumes()).find((v) => v.id === vol.id)).toMatchObject({ attachedTo: null });
      // The VM's 1 GiB went back; the volume's 1 GiB stays claimed until the volume is deleted.
      expect((await allocated()).allocatedDiskGb).toBe(before - 1);
      await deleteVolume(vol.id, admin);
      expect((await allocated()).allocatedDiskGb).toBe(before - 2);
      expect((await agentVolumes()).find((v) => v.id === vol.id)).toBeUndefined();
    });

    it("an ISO goes into a running VM's CD drive and out again; the agent's spec follows the row", async () => {
      // A real ISO 9660 image (genisoimage, argv only), served to the agent like any image file.
      const dir = fs.mkdtempSync(path.join(host!.root, "iso-"));
      fs.writeFileSync(path.join(dir, "README.TXT"), "polyarch media test\n");
      const isoPath = path.join(host!.root, "media.iso");
      execFileSync("genisoimage", ["-quiet", "-V", "PAMEDIA", "-o", isoPath, dir]);
      const bytes = fs.readFileSync(isoPath);
      const iso = await db().image.create({
        data: {
          name: "media-iso",
          arch: "aarch64",
          format: "iso",
          status: "ready",
          firmware: "uefi",
          sha256: crypto.createHash("sha256").update(bytes).digest("hex"),
          sizeBytes: bytes.length,
          visibility: "public",
        },
      });
      files.set(`${iso.id}/disk`, bytes);
      const vm = await db().vm.findFirstOrThrow({ where: { name: "vol-vm" } });
      await vmAction(vm.id, "start", admin);
      await until(async () => (await db().vm.findUnique({ where: { id: vm.id } }))?.status === "running", "VM running");
      const { pid } = (await onAgent(`/v1/vms/${vm.id}`)).body as { pid?: number };
      if (pid) host!.pids.add(pid);
      const specOnAgent = () =>
        JSON.parse(fs.readFileSync(path.join(host!.root, "state", "vms", vm.id, "spec.json"), "utf8")) as {
          cdrom?: { imageId: string } | null;
        };
      expect(specOnAgent().cdrom ?? null).toBeNull();
      expect(await insertMedia(vm.id, iso.id, admin)).toEqual({
        vmId: vm.id,
        image: { id: iso.id, name: "media-iso", arch: "aarch64" },
      });
      expect(specOnAgent().cdrom).toMatchObject({ imageId: iso.id });
      expect(await ejectMedia(vm.id, admin)).toEqual({ vmId: vm.id, image: null });
      expect(specOnAgent().cdrom ?? null).toBeNull();
      const tasks = await db().task.findMany({
        where: { vmId: vm.id, kind: { startsWith: "vm.media" } },
        include: { steps: true },
        orderBy: { createdAt: "asc" },
      });
      expect(tasks.map((t) => [t.kind, t.status, t.steps[0]?.message])).toEqual([
        ["vm.media.insert", "succeeded", "media-iso in the CD drive"],
        ["vm.media.eject", "succeeded", "CD drive empty"],
      ]);
    });
  },
);
