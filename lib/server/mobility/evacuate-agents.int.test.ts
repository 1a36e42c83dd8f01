// Maintenance that empties a host, against two REAL agents (in-process, real QEMU under TCG, a zero
// kernel: QEMU runs, no guest boots — the memory and the disk move all the same): two running VMs
// and a stopped one on host A; entering maintenance with evacuate moves the running ones live and
// the stopped one cold, one at a time, through the migration orchestrator; the host.evacuate task
// succeeds with one step per VM saying where it went, and A holds nothing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import { startFrontedAgent, type FrontedAgent } from "../testing/agent-front";
import type { TestDatabase } from "../../../prisma/test-db";
import { db } from "../platform";
import { createVm, deleteVm, vmAction } from "../vms";
import { which } from "../../../agent/src/host";
import { enterMaintenance } from "./maintenance";

const haveQemu = Boolean(which("qemu-system-aarch64") && which("qemu-img"));
const KERNEL = Buffer.alloc(64 * 1024);
const SHA = crypto.createHash("sha256").update(KERNEL).digest("hex");
const admin = {
  actor: { id: "admin-1", email: "a@t.test", name: "A", role: "admin" as const, via: "session" as const },
  clientIp: null,
};

describe.skipIf(!haveQemu).each(PROVIDERS)(
  `evacuation between two real agents (%s)${haveQemu ? "" : " — skipped: qemu-system-aarch64 not installed"}`,
  (provider) => {
    let database: TestDatabase | undefined;
    const agents: FrontedAgent[] = [];

    beforeAll(async () => {
      database = await useFreshDatabase(provider);
      for (const name of ["evac-a", "evac-b"]) agents.push(await startFrontedAgent(name, KERNEL, undefined, 180_000));
    });

    afterAll(async () => {
      const vms = await db()
        .vm.findMany({ select: { id: true } })
        .catch(() => []);
      for (const vm of vms) await deleteVm(vm.id, admin).catch(() => {});
      for (const a of agents) await a.stop();
      await releaseDatabase(database);
    });

    it("moves every VM off the host (running live, stopped cold) and ends succeeded with the host empty", async () => {
      const [a, b] = agents.map((x) => x.agent.client!.identity!.hostId) as [string, string];
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
      // Everything lands on A: B takes nothing while the VMs are created.
      await db().host.update({ where: { id: b }, data: { adminState: "disabled" } });
      const ids: string[] = [];
      for (const name of ["e1-run", "e2-run", "e3-stopped"]) {
        const created = await createVm(
          {
            name,
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
        ids.push(created.vm.id);
      }
      for (const id of ids)
        await agents[0]!.until(
          async () => (await db().vm.findUniqueOrThrow({ where: { id } })).status === "running",
          `VM ${id} to run on A`,
        );
      await vmAction(ids[2]!, "poweroff", admin);
      await db().host.update({ where: { id: b }, data: { adminState: "enabled" } });
      for (const id of ids) expect((await db().vm.findUniqueOrThrow({ where: { id } })).hostId).toBe(a);

      const out = await enterMaintenance(a, { evacuate: true }, admin, { wait: true });
      const task = await db().task.findUniqueOrThrow({
        where: { id: out.task!.id },
        include: { steps: { orderBy: { position: "asc" } } },
      });
      const bName = (await db().host.findUniqueOrThrow({ where: { id: b } })).name;
      expect(task.steps.map((s) => [s.name, s.status, s.message])).toEqual([
        ["e1-run", "succeeded", `moved live to ${bName}`],
        ["e2-run", "succeeded", `moved live to ${bName}`],
        ["e3-stopped", "succeeded", `moved cold to ${bName}`],
      ]);
      expect([task.status, task.progress, task.hostId]).toEqual(["succeeded", 100, a]);
      const tookMs = task.finishedAt!.getTime() - task.startedAt!.getTime();
      console.log(`[evacuate] 2 live + 1 cold migration of 128 MiB TCG guests: ${(tookMs / 1000).toFixed(1)} s`);
      const rows = await db().vm.findMany({ where: { id: { in: ids } }, orderBy: { name: "asc" } });
      expect(rows.map((r) => [r.name, r.hostId, r.status, r.generation])).toEqual([
        ["e1-run", b, "running", 2],
        ["e2-run", b, "running", 2],
        ["e3-stopped", b, "stopped", 2],
      ]);
      expect((await db().host.findUniqueOrThrow({ where: { id: a } })).adminState).toBe("maintenance");
      // A holds nothing: no VM directory, no QEMU; B runs the two that ran.
      const vmsDir = path.join(agents[0]!.root, "state", "vms");
      expect(fs.existsSync(vmsDir) ? fs.readdirSync(vmsDir).filter((d) => ids.includes(d)) : []).toEqual([]);
      for (const id of ids.slice(0, 2)) {
        const r = await agents[1]!.agentGet(`/v1/vms/${id}`);
        expect([r.status, r.body.powerState]).toEqual([200, "running"]);
        if (typeof r.body.pid === "number") agents[1]!.pids.add(r.body.pid);
      }
    }, 600_000);
  },
);
