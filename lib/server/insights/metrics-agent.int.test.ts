// A real agent (in-process, as agent/src/agent.int.test.ts starts it) registers and heartbeats over
// HTTP on 127.0.0.1 into the controller's own route handlers (app/api/agent/v1/register and
// /heartbeat) backed by a fresh SQLite / PostgreSQL database; it runs one real QEMU guest (aarch64,
// TCG, no NIC, a zero-filled "kernel"), and the host's and the guest's CPU / memory samples land
// in MetricSample and come back from the read API. Only the image download is served by the test.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import { startAgentFront, type AgentFront } from "../testing/agent-front";
import type { TestDatabase } from "../../../prisma/test-db";
import { db } from "../platform";
import { getJoinToken } from "../hosts";
import { hostMetrics, vmMetrics } from "./metrics";
import type { RunningAgent } from "../../../agent/src/agent";
import { which } from "../../../agent/src/host/facts";
import { alive, startTestAgent, until as waitUntil } from "../../../agent/src/testing/support";

const haveQemu = Boolean(which("qemu-system-aarch64") && which("qemu-img"));
const KERNEL = Buffer.alloc(64 * 1024);

/** the agent's warnings and errors, shown when a wait times out */
const problems: string[] = [];

const until = <T>(fn: () => T | Promise<T>, what: string, ms = 60_000) =>
  waitUntil(fn, () => `${what}; agent warnings: ${problems.slice(-5).join(" | ") || "none"}`, ms, 100);

describe.skipIf(!haveQemu).each(PROVIDERS)(
  `a real agent's heartbeat metrics reach the database (%s)${haveQemu ? "" : " — skipped: qemu-system-aarch64 not installed"}`,
  (provider) => {
    let database: TestDatabase | undefined;
    let front: AgentFront | null = null;
    let agent: RunningAgent | null = null;
    let root = "";
    const pids = new Set<number>();

    beforeAll(async () => {
      database = await useFreshDatabase(provider);
      root = fs.mkdtempSync(path.join(os.tmpdir(), "pa-metrics-agent-"));
      front = await startAgentFront(KERNEL);
    });

    afterAll(async () => {
      await agent?.stop().catch(() => {});
      for (const pid of pids) if (alive(pid)) process.kill(pid, "SIGKILL");
      await front?.stop();
      await releaseDatabase(database);
      if (root) fs.rmSync(root, { recursive: true, force: true });
    });

    it("host samples, then the guest's QEMU process samples, are stored and readable", async () => {
      const suffix = crypto.randomBytes(3).toString("hex");
      agent = await startTestAgent({
        controller: front!.url,
        stateDir: path.join(root, "state"),
        machineId: `metrics-${suffix}`,
        heartbeatMs: 300,
        args: ["--insecure-http"],
        env: { POLYARCH_JOIN_TOKEN: await getJoinToken() },
        log: (level, event, ctx) => {
          if (level !== "info") problems.push(`${level} ${event} ${JSON.stringify(ctx)}`.slice(0, 400));
        },
      });
      const hostId = await until(() => agent!.client?.identity?.hostId, "registration");

      // The first heartbeat already carries a sample (the agent took its baseline at start).
      const first = await until(
        async () => (await hostMetrics(hostId, 5)).samples[0],
        "a host sample in the database",
        30_000,
      );
      expect(first.cpuPct).toBeGreaterThanOrEqual(0);
      expect(first.cpuPct).toBeLessThanOrEqual(100);
      expect(first.memUsedMb).toBeGreaterThan(0);
      expect(first.memUsedMb).toBeLessThanOrEqual(Math.ceil(os.totalmem() / 1024 ** 2));
      expect(front!.heartbeats.every((s) => s === 200)).toBe(true);

      // A VM the controller placed on this host, started on the agent as the controller would.
      const vm = await db().vm.create({
        data: {
          name: "metrics-vm",
          arch: "aarch64",
          vcpus: 1,
          memoryMb: 128,
          diskGb: 1,
          hostId,
          status: "creating",
          powerState: "starting",
        },
      });
      const put = await fetch(`${agent.url}/v1/vms/${vm.id}`, {
        method: "PUT",
        headers: { authorization: `Bearer ${agent.client!.token}`, "content-type": "application/json" },
        body: JSON.stringify({
          name: "metrics-vm",
          arch: "aarch64",
          vcpus: 1,
          memoryMb: 128,
          diskGb: 1,
          nics: [],
          boot: {
            type: "kernel",
            imageId: "img-zero",
            kernelSha256: crypto.createHash("sha256").update(KERNEL).digest("hex"),
            cmdline: "",
          },
        }),
      });
      const created = (await put.json()) as { pid?: number };
      expect(put.status, JSON.stringify(created)).toBe(201);
      if (created.pid) pids.add(created.pid);

      const sample = await until(async () => (await vmMetrics(vm.id, 5)).samples[0], "a VM sample in the database");
      const running = (await (
        await fetch(`${agent.url}/v1/vms/${vm.id}`, { headers: { authorization: `Bearer ${agent.client!.token}` } })
      ).json()) as { pid: number; rssMb?: number };
      pids.add(running.pid);
      expect(sample.cpuPct).toBeGreaterThanOrEqual(0);
      expect(sample.cpuPct).toBeLessThanOrEqual(100 * os.cpus().length);
      // QEMU's resident set: more than nothing, and in the same range as the agent's own report.
      expect(sample.memUsedMb).toBeGreaterThan(1);
      expect(sample.memUsedMb).toBeLessThan(2048);
      const rows = await db().metricSample.findMany({ where: { vmId: vm.id } });
      expect(rows.every((r) => r.hostId === null)).toBe(true);
      // The controller also mirrored the VM state from the same heartbeats.
      expect((await db().vm.findUniqueOrThrow({ where: { id: vm.id } })).status).toBe("running");

      const del = await fetch(`${agent.url}/v1/vms/${vm.id}`, {
        method: "DELETE",
        headers: { authorization: `Bearer ${agent.client!.token}` },
      });
      expect(del.status).toBe(200);
      await until(() => !alive(running.pid), "QEMU gone");
    });
  },
);
