// HA restart and reconciliation against a real agent (in-process, real QEMU under TCG, a zero
// kernel: QEMU runs, no guest boots). A host that went silent past lease + margin is a database
// row (nothing listens at its URL); its HA VM starts again on the live agent with generation 2 and
// the dead host, should it heartbeat again, is told to evict its copy. Then the live agent's QEMU is
// SIGKILLed: the heartbeat reports it shut off and the reconcile job starts it again; then the
// agent loses the VM altogether and the job provisions it there again.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import { startFrontedAgent, type FrontedAgent } from "../testing/agent-front";
import { insertTestHost } from "../testing/rows";
import type { TestDatabase } from "../../../prisma/test-db";
import { db, resetEnvForTests } from "../platform";
import { deleteVm, recordHeartbeat } from "../vms";
import { which } from "../../../agent/src/host";
import { restartFencedHaVms, setVmHa } from "./ha";
import { reconcileVms } from "./reconcile";

const haveQemu = Boolean(which("qemu-system-aarch64") && which("qemu-img"));
const KERNEL = Buffer.alloc(64 * 1024);
const SHA = crypto.createHash("sha256").update(KERNEL).digest("hex");
const LEASE = 10_000;
const admin = {
  actor: { id: "admin-1", email: "a@t.test", name: "A", role: "admin" as const, via: "session" as const },
  clientIp: null,
};
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe.skipIf(!haveQemu).each(PROVIDERS)(
  `HA restart and reconciliation on a real agent (%s)${haveQemu ? "" : " — skipped: qemu-system-aarch64 not installed"}`,
  (provider) => {
    let database: TestDatabase | undefined;
    let live: FrontedAgent | null = null;
    const saved = process.env.POLYARCH_HA_LEASE_MS;

    beforeAll(async () => {
      process.env.POLYARCH_HA_LEASE_MS = String(LEASE);
      database = await useFreshDatabase(provider);
      live = await startFrontedAgent("ha-live", KERNEL, undefined, 90_000);
    });

    afterAll(async () => {
      const vms = await db()
        .vm.findMany({ select: { id: true } })
        .catch(() => []);
      for (const vm of vms) await deleteVm(vm.id, admin).catch(() => {});
      await live?.stop();
      await releaseDatabase(database);
      if (saved === undefined) delete process.env.POLYARCH_HA_LEASE_MS;
      else process.env.POLYARCH_HA_LEASE_MS = saved;
      resetEnvForTests();
    });

    const row = (id: string) => db().vm.findUniqueOrThrow({ where: { id } });
    async function agentPid(vmId: string): Promise<number> {
      const pid = await live!.until(async () => {
        const r = await live!.agentGet(`/v1/vms/${vmId}`);
        return r.status === 200 && typeof r.body.pid === "number" ? r.body.pid : null;
      }, "the VM's QEMU on the agent");
      live!.pids.add(pid);
      return pid;
    }

    it("restarts the HA VM of a fenced host on the live agent (generation 2); kill -9 → started again; lost → provisioned again", async () => {
      const liveHostId = live!.agent.client!.identity!.hostId;
      const image = await db().image.create({
        data: {
          name: "zero",
          arch: "aarch64",
          format: "kernel",
          status: "ready",
          sha256: SHA,
          sizeBytes: KERNEL.length,
        },
      });
      const now = Date.now();
      const dead = await insertTestHost({
        name: "dead",
        lastHeartbeatAt: new Date(now - LEASE - 7_000 - 1_000),
        allocatedCpus: 1,
        allocatedMemoryMb: 128,
        allocatedDiskGb: 1,
      });
      const vm = await db().vm.create({
        data: {
          name: "ha-guest",
          arch: "aarch64",
          vcpus: 1,
          memoryMb: 128,
          diskGb: 1,
          imageId: image.id,
          hostId: dead.id,
          status: "running",
          powerState: "running",
          allowEmulation: true,
          emulated: true,
          ha: true,
        },
      });

      // HA restart: on the live agent, from the image, one generation later, fenced there too.
      const ha = await restartFencedHaVms({ upSinceMs: 0 });
      expect(ha.restarted).toEqual([vm.id]);
      const task = await db().task.findFirstOrThrow({ where: { kind: "vm.ha-restart", vmId: vm.id } });
      expect(task.status, task.error ?? "").toBe("succeeded");
      const moved = await row(vm.id);
      expect([moved.hostId, moved.generation, moved.status]).toEqual([liveHostId, 2, "running"]);
      const spec = JSON.parse(fs.readFileSync(path.join(live!.root, "state", "vms", vm.id, "spec.json"), "utf8"));
      expect([spec.generation, spec.fence]).toEqual([2, true]);
      const firstPid = await agentPid(vm.id);
      expect((await db().host.findUniqueOrThrow({ where: { id: dead.id } })).allocatedCpus).toBe(0);
      // The dead host's agent returns and reports its old copy: it is told to evict it; the row stays.
      const back = await recordHeartbeat(dead.id, {
        usage: { cpuPct: 0, memoryUsedMb: 0, diskUsedGb: 0, loadAvg: [] },
        vms: [
          {
            id: vm.id,
            name: "ha-guest",
            arch: "aarch64",
            powerState: "running",
            emulated: true,
            accel: "tcg",
            vcpus: 1,
            memoryMb: 128,
            generation: 1,
          },
        ],
      } as never);
      expect(back.evict).toEqual([{ id: vm.id, generation: 2 }]);
      expect((await row(vm.id)).hostId).toBe(liveHostId);
      // A second run finds nothing to do: the VM is on a live host now.
      expect((await restartFencedHaVms({ upSinceMs: 0 })).restarted).toEqual([]);

      // kill -9 of its QEMU: the heartbeat says shut off, the reconcile job starts it again.
      expect((await reconcileVms()).started).toEqual([]);
      process.kill(firstPid, "SIGKILL");
      await live!.until(async () => (await row(vm.id)).status === "stopped", "the heartbeat to report it stopped");
      const rec = await reconcileVms();
      expect(rec.started).toEqual([vm.id]);
      const started = await db().task.findFirstOrThrow({
        where: { kind: "vm.reconcile", vmId: vm.id },
        include: { steps: true },
      });
      expect(started.status).toBe("succeeded");
      expect(started.steps[0]!.message).toMatch(/^desired running, found shut off on .+; started/);
      const secondPid = await agentPid(vm.id);
      expect(secondPid).not.toBe(firstPid);
      expect(alive(secondPid)).toBe(true);
      expect((await row(vm.id)).status).toBe("running");

      // The agent loses the VM (its files are gone): after two heartbeat intervals of silence about
      // it, the job provisions it there again from its spec.
      const del = await fetch(`${live!.agent.url}/v1/vms/${vm.id}`, {
        method: "DELETE",
        headers: { authorization: `Bearer ${live!.agent.client!.token}` },
      });
      expect(del.status).toBeLessThan(300);
      await live!.until(async () => (await row(vm.id)).status === "unknown", "the heartbeat to stop reporting it");
      expect((await reconcileVms({ intervalMs: 300 })).reprovisioned).toEqual([]); // first sighting only
      const seenAt = Date.now();
      await live!.until(
        async () =>
          ((await db().host.findUniqueOrThrow({ where: { id: liveHostId } })).lastHeartbeatAt?.getTime() ?? 0) >
          seenAt + 700,
        "two more heartbeats",
      );
      expect((await reconcileVms({ intervalMs: 300 })).reprovisioned).toEqual([vm.id]);
      const again = await db().task.findFirstOrThrow({
        where: { kind: "vm.reconcile", vmId: vm.id, id: { not: started.id } },
      });
      expect(again.status, again.error ?? "").toBe("succeeded");
      const pid = await agentPid(vm.id);
      expect((await row(vm.id)).status).toBe("running");

      // PATCH {ha}: the agent's spec follows, so its watchdog fences exactly the HA VMs; QEMU runs on.
      const specFile = path.join(live!.root, "state", "vms", vm.id, "spec.json");
      expect((await setVmHa(vm.id, { ha: false }, admin)).ha).toBe(false);
      expect(JSON.parse(fs.readFileSync(specFile, "utf8")).fence).toBe(false);
      expect((await setVmHa(vm.id, { ha: true }, admin)).ha).toBe(true);
      expect(JSON.parse(fs.readFileSync(specFile, "utf8")).fence).toBe(true);
      expect(await agentPid(vm.id)).toBe(pid);
    }, 240_000);
  },
);
