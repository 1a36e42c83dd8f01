// Snapshots and capture against a REAL agent (in-process, --insecure-http on loopback) running a
// real aarch64 QEMU guest (TCG; a zero kernel, so the guest does nothing but QEMU runs): the
// controller's create/revert/delete reach qcow2 internal snapshots and QMP, and capture streams the
// agent's flattened qcow2 into the image store. The VM's disk gets a known pattern with qemu-io
// while stopped, so the captured image is shown to hold the VM's bytes.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import { startFrontedAgent, type FrontedAgent } from "../testing/agent-front";
import type { TestDatabase } from "../../../prisma/test-db";
import { db } from "../platform";
import { insideImageStore } from "../images";
import { createVm, deleteVm, vmAction } from "../vms";
import { captureVm, createSnapshot, deleteSnapshot, revertSnapshot } from ".";
import { which } from "../../../agent/src/host";

const haveQemu = Boolean(which("qemu-system-aarch64") && which("qemu-img") && which("qemu-io"));
const KERNEL = Buffer.alloc(64 * 1024);
const SHA = crypto.createHash("sha256").update(KERNEL).digest("hex");
const admin = {
  actor: { id: "admin-1", email: "a@t.test", name: "A", role: "admin" as const, via: "session" as const },
  clientIp: null,
};

describe.skipIf(!haveQemu).each(PROVIDERS)(
  `snapshots and capture with a real agent (%s)${haveQemu ? "" : " — skipped: qemu-system-aarch64/qemu-img/qemu-io missing"}`,
  (provider) => {
    let database: TestDatabase | undefined;
    let host: FrontedAgent | null = null;
    let vmId = "";
    const until = <T>(fn: () => T | Promise<T>, what: string, ms?: number) => host!.until(fn, what, ms);
    const onAgent = async (p: string) => (await host!.agentGet(p)).body;
    const allocated = async () =>
      (
        await db().host.findFirstOrThrow({
          where: { id: (await db().vm.findUniqueOrThrow({ where: { id: vmId } })).hostId! },
        })
      ).allocatedDiskGb;

    beforeAll(async () => {
      database = await useFreshDatabase(provider);
      await db().user.create({ data: { id: admin.actor.id, email: admin.actor.email, name: "A", role: "admin" } });
      host = await startFrontedAgent("snap-agent", KERNEL);
      const image = await db().image.create({
        data: {
          name: "zero",
          arch: "aarch64",
          format: "kernel",
          status: "ready",
          sha256: SHA,
          sizeBytes: KERNEL.length,
          cmdline: "",
        },
      });
      vmId = (
        await createVm(
          {
            name: "snap-real",
            arch: "aarch64",
            imageId: image.id,
            vcpus: 1,
            memoryMb: 128,
            diskGb: 4,
            networkId: null,
            allowEmulation: true,
            strategy: "spread",
          },
          admin,
        )
      ).vm.id;
      await until(
        async () => (await db().vm.findUniqueOrThrow({ where: { id: vmId } })).status === "running",
        "the VM to run",
      );
      const { pid } = (await onAgent(`/v1/vms/${vmId}`)) as { pid?: number };
      if (pid) host!.pids.add(pid);
    }, 180_000);

    afterAll(async () => {
      if (vmId) await deleteVm(vmId, admin).catch(() => {});
      await host?.stop();
      await releaseDatabase(database);
    });

    it("disk and memory snapshots of the running VM exist on the host, claim disk, revert and delete", async () => {
      const before = await allocated();
      const disk = await createSnapshot(vmId, { name: "disk-1", memory: false }, admin);
      expect(disk).toMatchObject({ status: "ready", memory: false, claimedDiskGb: 1, vmStateBytes: 0 });
      const mem = await createSnapshot(vmId, { name: "mem-1", memory: true }, admin);
      expect(mem).toMatchObject({ status: "ready", memory: true, claimedDiskGb: 2 });
      expect(mem.vmStateBytes).toBeGreaterThan(0);
      expect(await allocated()).toBe(before + 3);
      const listed = (await onAgent(`/v1/vms/${vmId}/snapshots`)).snapshots as { id: string; memory: boolean }[];
      expect(listed.map((s) => [s.id, s.memory]).sort()).toEqual(
        [
          [disk.id, false],
          [mem.id, true],
        ].sort(),
      );

      const afterMem = await revertSnapshot(vmId, mem.id, admin);
      expect(afterMem.status).toBe("running");
      const afterDisk = await revertSnapshot(vmId, disk.id, admin);
      expect(afterDisk.status).toBe("running");
      const { pid } = (await onAgent(`/v1/vms/${vmId}`)) as { pid?: number };
      if (pid) host!.pids.add(pid);

      await deleteSnapshot(vmId, mem.id, admin);
      expect(await allocated()).toBe(before + 1);
      const left = (await onAgent(`/v1/vms/${vmId}/snapshots`)).snapshots as { id: string }[];
      expect(left.map((s) => s.id)).toEqual([disk.id]);
    }, 300_000);

    it("capture of the stopped VM streams its disk into a ready aarch64 image holding the VM's bytes", async () => {
      await vmAction(vmId, "poweroff", admin);
      await until(
        async () => (await db().vm.findUniqueOrThrow({ where: { id: vmId } })).status === "stopped",
        "stopped",
      );
      const diskFile = path.join(host!.root, "state", "vms", vmId, "disk.qcow2");
      expect(fs.existsSync(diskFile), diskFile).toBe(true);
      execFileSync("qemu-io", ["-c", "write -P 0x5a 0 1M", diskFile], { stdio: "ignore" });

      const image = await captureVm(vmId, { name: "captured", family: "snap-real" }, admin);
      expect(image).toMatchObject({
        status: "ready",
        arch: "aarch64",
        format: "qcow2",
        family: "snap-real",
        visibility: "project",
      });
      const row = await db().image.findUniqueOrThrow({ where: { id: image.id } });
      const raw = path.join(host!.root, "captured.raw");
      execFileSync("qemu-img", ["convert", "-f", "qcow2", "-O", "raw", insideImageStore(row.path!), raw]);
      const head = Buffer.alloc(4096);
      const fd = fs.openSync(raw, "r");
      fs.readSync(fd, head, 0, head.length, 0);
      fs.closeSync(fd);
      expect(head.every((b) => b === 0x5a)).toBe(true);
      expect(fs.statSync(raw).size).toBe(4 * 1024 ** 3);
      // The agent removed its temporary export.
      const exports = path.join(host!.root, "state", "exports");
      expect(fs.existsSync(exports) ? fs.readdirSync(exports) : []).toEqual([]);
    }, 300_000);
  },
);
