// Migration end to end against two REAL agents (in-process, --insecure-http on loopback, real QEMU
// under TCG) registered through the controller's route handlers: an x86_64 guest booted from the
// test fixture, with a hot-plugged data volume, moves live from one to the other (task succeeded,
// generation 2, claims and volume moved, the source holds nothing); a target lacking the VM's
// machine type is refused with 409 before anything happens; a cancelled migration leaves it running
// where it was, nothing on the target; stopped, it moves cold (both disks streamed and verified) to
// generation 3; a migration abandoned by a dead controller is undone by the recovery job.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import { startFrontedAgent, type FrontedAgent } from "../testing/agent-front";
import type { TestDatabase } from "../../../prisma/test-db";
import { db } from "../platform";
import { createVm, deleteVm, vmAction } from "../vms";
import { createVolume } from "../volumes";
import { AppError } from "../../errors";
import { which } from "../../../agent/src/host";
import { findFixture } from "../../../agent/src/testing/vm-rig";
import { migrationTaskResultSchema } from "../../schemas/migration";
import { cancelMigration, startMigration } from "./migrate";
import { recoverAbandonedMigrations } from "./recover";

const fixture = findFixture("x86_64");
const missing =
  !which("qemu-system-x86_64") || !which("qemu-img") ? "QEMU not installed" : !fixture ? "no x86_64 fixture" : null;
const IMAGE_ID = "img-mig-x86";
const admin = {
  actor: { id: "admin-1", email: "a@t.test", name: "A", role: "admin" as const, via: "session" as const },
  clientIp: null,
};
const sha = (b: Buffer) => crypto.createHash("sha256").update(b).digest("hex");

describe.skipIf(missing !== null).each(PROVIDERS)(
  `migration between two real agents (%s)${missing ? ` — skipped: ${missing}` : ""}`,
  (provider) => {
    let database: TestDatabase | undefined;
    const agents: FrontedAgent[] = [];
    let vmId = "";

    beforeAll(async () => {
      database = await useFreshDatabase(provider);
      const kernel = fs.readFileSync(fixture!.kernel);
      const initrd = fs.readFileSync(fixture!.initrd!);
      const files = new Map([[`${IMAGE_ID}/initrd`, initrd]]);
      for (const name of ["mig-a", "mig-b"]) agents.push(await startFrontedAgent(name, kernel, files, 180_000));
      await db().image.create({
        data: {
          id: IMAGE_ID,
          name: "fixture-x86",
          arch: "x86_64",
          format: "kernel",
          status: "ready",
          sha256: sha(kernel),
          sizeBytes: kernel.length,
          initrdSha256: sha(initrd),
          cmdline: fixture!.cmdline,
        },
      });
    });

    afterAll(async () => {
      const vms = await db()
        .vm.findMany({ select: { id: true } })
        .catch(() => []);
      for (const vm of vms) await deleteVm(vm.id, admin).catch(() => {});
      for (const a of agents) await a.stop();
      await releaseDatabase(database);
    });

    const agentOf = (hostId: string) => agents.find((a) => a.agent.client!.identity!.hostId === hostId)!;
    const otherOf = (hostId: string) => agents.find((a) => a.agent.client!.identity!.hostId !== hostId)!;
    const row = () => db().vm.findUniqueOrThrow({ where: { id: vmId } });
    const claims = async () =>
      Object.fromEntries(
        (await db().host.findMany({ select: { id: true, allocatedCpus: true, allocatedMemoryMb: true } })).map((h) => [
          h.id,
          [h.allocatedCpus, h.allocatedMemoryMb],
        ]),
      );
    async function onAgent(a: FrontedAgent) {
      const r = await a.agentGet(`/v1/vms/${vmId}`);
      if (typeof r.body.pid === "number") a.pids.add(r.body.pid);
      return r;
    }
    const serial = (a: FrontedAgent) => {
      try {
        return fs.readFileSync(path.join(a.root, "state", "vms", vmId, "serial.log"), "utf8");
      } catch {
        return "";
      }
    };

    it("moves a running x86_64 guest live: task succeeded, generation 2, claims moved, nothing left on the source", async () => {
      const created = await createVm(
        {
          name: "wanderer",
          arch: "x86_64",
          imageId: IMAGE_ID,
          vcpus: 1,
          memoryMb: 256,
          diskGb: 1,
          networkId: null,
          allowEmulation: true,
          strategy: "spread",
        },
        admin,
      );
      vmId = created.vm.id;
      const source = agentOf(created.host.id);
      const target = otherOf(created.host.id);
      await source.until(async () => (await row()).status === "running", "the VM to run");
      await source.until(() => serial(source).includes(fixture!.marker), "the guest to boot");
      await onAgent(source);
      // A data volume hot-plugged into the running guest moves with it (mirrored like the root disk).
      const volume = await createVolume({ name: "data", sizeGb: 1, vmId }, admin);
      await source.until(
        async () => (await db().volume.findUniqueOrThrow({ where: { id: volume.id } })).status === "in-use",
        "the volume to attach",
      );
      const pinned = await row();
      // This machine may or may not have a usable /dev/kvm: the pin follows what the host reported.
      const kvm = (await db().host.findUniqueOrThrow({ where: { id: created.host.id } })).kvm;
      // Same arch: not "emulated" in the agent's sense (cross-arch), whatever the accelerator.
      expect([pinned.cpuModel, pinned.emulated]).toEqual([kvm ? "Westmere" : "max", false]);
      expect(pinned.machineType).toMatch(/^pc-q35-\d+\.\d+$/);
      const before = await claims();

      const started = await startMigration(vmId, {}, admin);
      const outcome = await started.done;
      expect(outcome).toEqual({ ok: true });
      const task = await db().task.findUniqueOrThrow({
        where: { id: started.taskId },
        include: { steps: { orderBy: { position: "asc" } } },
      });
      expect([task.kind, task.status, task.progress]).toEqual(["vm.migrate", "succeeded", 100]);
      expect(task.steps.map((s) => [s.name, s.status])).toEqual([
        ["check", "succeeded"],
        ["prepare target", "succeeded"],
        ["copy disks", "succeeded"],
        ["memory", "succeeded"],
        ["switch over", "succeeded"],
        ["clean up source", "succeeded"],
      ]);
      // Under TCG the guest was paused for its memory copy (ADR 064), and the step says so.
      expect(task.steps.find((s) => s.name === "memory")?.message).toMatch(
        kvm
          ? /sent, guest paused \d+ ms$/
          : /sent, guest paused \d+ ms \(emulated guest: paused for the whole memory copy\)$/,
      );
      const result = migrationTaskResultSchema.parse(JSON.parse(task.result!));
      expect(result).toMatchObject({
        mode: "live",
        fromHostId: created.host.id,
        toHostId: target.agent.client!.identity!.hostId,
      });
      expect(result.bytes).toBeGreaterThan(0);
      const moved = await row();
      expect([moved.hostId, moved.generation, moved.migratingToHostId, moved.status, moved.emulated]).toEqual([
        target.agent.client!.identity!.hostId,
        2,
        null,
        "running",
        pinned.emulated,
      ]);
      expect([moved.machineType, moved.cpuModel]).toEqual([pinned.machineType, pinned.cpuModel]);
      const after = await claims();
      expect(after[created.host.id]).toEqual([0, 0]);
      expect(after[moved.hostId!]).toEqual(before[created.host.id]);
      const there = await onAgent(target);
      expect([there.status, there.body.powerState, there.body.generation]).toEqual([200, "running", 2]);
      expect((await source.agentGet(`/v1/vms/${vmId}`)).status).toBe(404);
      expect(fs.existsSync(path.join(source.root, "state", "vms", vmId))).toBe(false);
      const vol = await db().volume.findUniqueOrThrow({ where: { id: volume.id } });
      expect([vol.hostId, vol.vmId, vol.status]).toEqual([moved.hostId, vmId, "in-use"]);
      expect(fs.existsSync(path.join(target.root, "state", "volumes", `${volume.id}.qcow2`))).toBe(true);
      expect(fs.existsSync(path.join(source.root, "state", "volumes", `${volume.id}.qcow2`))).toBe(false);
    });

    it("a target lacking the VM's machine type: 409 naming it, before anything happens", async () => {
      const vm = await row();
      await db().vm.update({ where: { id: vmId }, data: { machineType: "pc-q35-99.9" } });
      try {
        const before = [await row(), await claims(), await db().task.count()];
        const error = await startMigration(vmId, {}, admin).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(AppError);
        expect((error as AppError).status).toBe(409);
        expect((error as AppError).message).toMatch(
          /^wanderer cannot move: no host can take it: .*machine type pc-q35-99\.9 is not offered by this host's QEMU/,
        );
        expect([await row(), await claims(), await db().task.count()]).toEqual(before);
      } finally {
        // The tests after this one move the same VM: a failure here must not fail them too.
        await db().vm.update({ where: { id: vmId }, data: { machineType: vm.machineType } });
      }
    });

    it("cancel: the VM keeps running on its host, nothing stays on the target, the claims are as before", async () => {
      const vm = await row();
      const source = agentOf(vm.hostId!);
      const target = otherOf(vm.hostId!);
      const before = await claims();
      const started = await startMigration(vmId, {}, admin);
      await cancelMigration(vmId, admin);
      const outcome = await started.done;
      expect(outcome.ok).toBe(false);
      expect(outcome.error).toMatch(/cancelled/);
      const task = await db().task.findUniqueOrThrow({ where: { id: started.taskId } });
      expect([task.status, task.cancelRequested, task.error]).toEqual([
        "failed",
        true,
        "The migration was cancelled; the VM stays on its host.",
      ]);
      const after = await row();
      expect([after.hostId, after.generation, after.migratingToHostId, after.status]).toEqual([
        vm.hostId,
        2,
        null,
        "running",
      ]);
      expect(await claims()).toEqual(before);
      const here = await onAgent(source);
      expect([here.status, here.body.powerState]).toEqual([200, "running"]);
      expect((await target.agentGet(`/v1/vms/${vmId}`)).status).toBe(404);
      await expect(cancelMigration(vmId, admin)).rejects.toThrow("No migration of this VM is running.");
    });

    it("stopped, it moves cold: disks streamed and verified, defined stopped on the target, generation 3", async () => {
      const vm = await row();
      const source = agentOf(vm.hostId!);
      const target = otherOf(vm.hostId!);
      await vmAction(vmId, "poweroff", admin);
      await source.until(async () => (await row()).status === "stopped", "the VM to stop");
      await expect(startMigration(vmId, { live: true }, admin)).rejects.toThrow(/is stopped: a stopped VM moves cold/);
      const started = await startMigration(vmId, {}, admin);
      const outcome = await started.done;
      const task = await db().task.findUniqueOrThrow({
        where: { id: started.taskId },
        include: { steps: { orderBy: { position: "asc" } } },
      });
      expect(outcome, JSON.stringify(task.steps)).toEqual({ ok: true });
      expect(task.steps.map((s) => [s.name, s.status])).toEqual([
        ["check", "succeeded"],
        ["copy disks", "succeeded"],
        ["verify", "succeeded"],
        ["define on target", "succeeded"],
        ["clean up source", "succeeded"],
      ]);
      const cold = migrationTaskResultSchema.parse(JSON.parse(task.result!));
      expect(cold).toMatchObject({ mode: "cold", downtimeMs: null });
      expect(cold.bytes).toBeGreaterThan(0);
      const moved = await row();
      expect([moved.hostId, moved.generation, moved.status]).toEqual([
        target.agent.client!.identity!.hostId,
        3,
        "stopped",
      ]);
      const there = await onAgent(target);
      expect([there.status, there.body.powerState, there.body.generation]).toEqual([200, "shutoff", 3]);
      expect((await source.agentGet(`/v1/vms/${vmId}`)).status).toBe(404);
      // The root disk and the data volume, each verified by SHA-256 on the target.
      expect(task.steps.find((st) => st.name === "copy disks")!.message).toMatch(/^2 disks, /);
      const vols = await db().volume.findMany({ where: { vmId }, select: { hostId: true } });
      expect(vols).toEqual([{ hostId: moved.hostId }]);
    });

    it("a migration whose controller died (mark set, no running task) is undone: mark cleared, the target's claim given back", async () => {
      const vm = await row();
      const target = otherOf(vm.hostId!);
      const targetId = target.agent.client!.identity!.hostId;
      const before = await claims();
      // What a controller leaves behind when it dies right after claiming (the sweep failed its task).
      await db().host.update({
        where: { id: targetId },
        data: { allocatedCpus: { increment: vm.vcpus }, allocatedMemoryMb: { increment: vm.memoryMb } },
      });
      await db().vm.update({ where: { id: vmId }, data: { migratingToHostId: targetId } });
      expect(await recoverAbandonedMigrations()).toEqual({ committed: [], undone: [vmId] });
      const after = await row();
      expect([after.hostId, after.migratingToHostId, after.generation]).toEqual([vm.hostId, null, vm.generation]);
      expect((await claims())[targetId]).toEqual(before[targetId]);
      expect(await recoverAbandonedMigrations()).toEqual({ committed: [], undone: [] });
    });
  },
);
