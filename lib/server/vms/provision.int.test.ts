// Task steps as they really happen: a real agent (in-process, --insecure-http on loopback) registers
// through the controller's route handlers; createVm places a VM on it and provisions it; the agent
// streams each create step and the controller records each by name with its own time. A kernel
// whose bytes do not match the image's sha256 makes the "image ready" step fail by name.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import crypto from "node:crypto";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import { startFrontedAgent, type FrontedAgent } from "../testing/agent-front";
import type { TestDatabase } from "../../../prisma/test-db";
import { db } from "../platform";
import { createVm, deleteVm } from ".";
import { which } from "../../../agent/src/host";

const haveQemu = Boolean(which("qemu-system-aarch64") && which("qemu-img"));
const KERNEL = Buffer.alloc(64 * 1024);
const SHA = crypto.createHash("sha256").update(KERNEL).digest("hex");
const admin = {
  actor: { id: "admin-1", email: "a@t.test", name: "A", role: "admin" as const, via: "session" as const },
  clientIp: null,
};

let host: FrontedAgent | null = null;

async function finishedTask(vmId: string) {
  return host!.until(async () => {
    const t = await db().task.findFirst({
      where: { vmId, kind: "vm.create" },
      include: { steps: { orderBy: { position: "asc" } } },
    });
    return t && t.status !== "running" ? t : null;
  }, "the create task to finish");
}

describe.skipIf(!haveQemu).each(PROVIDERS)(
  `VM create steps from a real agent (%s)${haveQemu ? "" : " — skipped: qemu-system-aarch64 not installed"}`,
  (provider) => {
    let database: TestDatabase | undefined;

    beforeAll(async () => {
      database = await useFreshDatabase(provider);
      host = await startFrontedAgent("provision", KERNEL, undefined, 90_000);
    });

    afterAll(async () => {
      const vms = await db()
        .vm.findMany({ select: { id: true } })
        .catch(() => []);
      for (const vm of vms) await deleteVm(vm.id, admin).catch(() => {});
      await host?.stop();
      await releaseDatabase(database);
    });

    it("each step is recorded by name, in order, with its own start and end; the result is QMP's", async () => {
      const image = await db().image.create({
        data: {
          name: "zero-kernel",
          arch: "aarch64",
          format: "kernel",
          status: "ready",
          sha256: SHA,
          sizeBytes: KERNEL.length,
          cmdline: "",
        },
      });
      const created = await createVm(
        {
          name: "steps-ok",
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
      const task = await finishedTask(created.vm.id);
      const steps = Object.fromEntries(task.steps.map((s) => [s.name, s]));
      expect(task.steps.map((s) => s.name)).toEqual([
        "scheduled",
        "image ready",
        "disk",
        "network",
        "starting",
        "running",
      ]);
      expect(task.status, JSON.stringify(task.steps)).toBe("succeeded");
      expect(steps["network"]!.status).toBe("skipped");
      expect(steps["network"]!.message).toBe("no NICs");
      for (const name of ["image ready", "disk", "starting"]) {
        const s = steps[name]!;
        expect(s.status, name).toBe("succeeded");
        expect(s.startedAt, `${name} started`).not.toBeNull();
        expect(s.finishedAt, `${name} finished`).not.toBeNull();
        expect(s.finishedAt!.getTime()).toBeGreaterThanOrEqual(s.startedAt!.getTime());
      }
      // One after the other, as the agent did them — not flipped together after the PUT returned.
      expect(steps["disk"]!.startedAt!.getTime()).toBeGreaterThanOrEqual(steps["image ready"]!.finishedAt!.getTime());
      expect(steps["starting"]!.startedAt!.getTime()).toBeGreaterThanOrEqual(steps["disk"]!.finishedAt!.getTime());
      expect(steps["disk"]!.message).toMatch(/1 GiB qcow2/);
      expect(steps["starting"]!.message).toMatch(/TCG \(emulated\), pid \d+/);
      expect(steps["running"]!.status).toBe("succeeded");
      expect(steps["running"]!.message).toMatch(/QMP status running/);
      const onAgent = await fetch(`${host!.agent.url}/v1/vms/${created.vm.id}`, {
        headers: { authorization: `Bearer ${host!.agent.client!.token}` },
      });
      const { pid } = (await onAgent.json()) as { pid?: number };
      expect(pid).toBeGreaterThan(0);
      host!.pids.add(pid!);
      const vm = await db().vm.findUniqueOrThrow({ where: { id: created.vm.id } });
      expect(vm.status).toBe("running");
    });

    it("a step that fails names itself; the steps after it are skipped and the VM keeps the reason", async () => {
      const wrong = "0".repeat(64);
      const image = await db().image.create({
        data: {
          name: "bad-kernel",
          arch: "aarch64",
          format: "kernel",
          status: "ready",
          sha256: wrong,
          sizeBytes: KERNEL.length,
          cmdline: "",
        },
      });
      const created = await createVm(
        {
          name: "steps-bad",
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
      const task = await finishedTask(created.vm.id);
      expect(task.status).toBe("failed");
      const failed = task.steps.filter((s) => s.status === "failed");
      expect(failed.map((s) => s.name)).toEqual(["image ready"]);
      expect(failed[0]!.message).toMatch(/sha256|checksum|hash/i);
      expect(task.steps.filter((s) => s.position > failed[0]!.position).every((s) => s.status === "skipped")).toBe(
        true,
      );
      const vm = await db().vm.findUniqueOrThrow({ where: { id: created.vm.id } });
      expect(vm.status).toBe("error");
      expect(vm.hostId).toBeNull();
      expect(vm.lastError).toBe(task.error);
      // The agent cleaned up its partial work: it does not know the VM.
      const onAgent = await fetch(`${host!.agent.url}/v1/vms/${created.vm.id}`, {
        headers: { authorization: `Bearer ${host!.agent.client!.token}` },
      });
      expect(onAgent.status).toBe(404);
    });
  },
);
