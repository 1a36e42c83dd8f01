// Two controller processes on one PostgreSQL database (issue #7 item 4): 200 parallel creates split
// across both against room for exactly 100 VMs; the controller holding the periodic-work lease is
// SIGKILLed mid-run. The survivor carries on, nothing is overcommitted or half-written, the lease
// moves to the survivor without two holders in one period, and the dead controller's running tasks
// are failed by the orphan sweep.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testPgUrl, type TestDatabase } from "../../../prisma/test-db";
import { releaseDatabase, useFreshDatabase } from "../testing/server-db";
import { db } from "./db";
import { dbNowMs } from "./leases";
import { sweepOrphanedTasks } from "../vms";

type Event = { event?: string; [k: string]: unknown };

class Controller {
  readonly events: Event[] = [];
  readonly proc: ChildProcessWithoutNullStreams;
  readonly exited: Promise<number | null>;
  private waiters = new Set<() => void>();
  stderr = "";

  constructor(env: NodeJS.ProcessEnv, config: { everyMs: number; ttlMs: number }) {
    this.proc = spawn(
      process.execPath,
      [
        "--conditions=react-server",
        "--import",
        "tsx",
        "lib/server/testing/controller-process.ts",
        JSON.stringify(config),
      ],
      { env, stdio: ["pipe", "pipe", "pipe"] },
    );
    this.exited = new Promise((resolve) =>
      this.proc.once("exit", (code) => {
        this.notify();
        resolve(code);
      }),
    );
    this.proc.stderr.on("data", (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    createInterface({ input: this.proc.stdout }).on("line", (line) => {
      try {
        const e = JSON.parse(line) as Event;
        if (e.event) this.events.push(e);
      } catch {
        // not ours
      }
      this.notify();
    });
  }

  private notify() {
    for (const w of this.waiters) w();
  }

  get alive() {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  results() {
    return this.events.filter((e) => e.event === "result") as unknown as (
      | { name: string; ok: true; vmId: string; taskId: string }
      | { name: string; ok: false; code: string | null; message: string }
    )[];
  }

  /** Resolves when `pred` holds for the events seen so far; rejects if the process exits first or after timeoutMs. */
  until(what: string, pred: (events: Event[]) => boolean, timeoutMs = 120_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (pred(this.events)) done(resolve);
        else if (!this.alive) done(() => reject(new Error(`controller exited before ${what}: ${this.stderr}`)));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`timed out waiting for ${what}`))), timeoutMs);
      const done = (fn: () => void) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        fn();
      };
      this.waiters.add(check);
      check();
    });
  }

  send(cmd: Record<string, unknown>) {
    this.proc.stdin.write(JSON.stringify(cmd) + "\n");
  }

  async kill() {
    if (this.alive) this.proc.kill("SIGKILL");
    await this.exited;
  }
}

async function waitFor<T>(
  what: string,
  fn: () => Promise<T | null | undefined | false>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const NO_CAPACITY = /^No x86_64 host has room/;

describe.skipIf(!testPgUrl())("several controllers on one PostgreSQL database (needs POLYARCH_TEST_PG_URL)", () => {
  let database: TestDatabase | undefined;
  const controllers: Controller[] = [];
  beforeAll(async () => {
    database = await useFreshDatabase("postgresql");
  });
  afterAll(async () => {
    await Promise.all(controllers.map((c) => c.kill()));
    await releaseDatabase(database);
  });

  const failoverTitle =
    "200 creates from two controllers, one SIGKILLed mid-run: exactly 100 placed, nothing overcommitted or half-written, " +
    "periodic work moves to the survivor";
  it(
    failoverTitle,
    async () => {
      // Room for exactly 100 VMs of 1 vCPU / 256 MiB / 1 GiB, after allocation ratios and reservations.
      const base = {
        arch: "x86_64",
        status: "online",
        diskGb: 1000,
        nativeArches: '["x86_64"]',
        emulatedArches: "[]",
        lastHeartbeatAt: new Date(),
        agentUrl: "http://127.0.0.1:9", // placement needs an agent address; nothing answers there
      };
      await db().host.createMany({
        data: [
          { ...base, name: "h-ratio4", cpuCount: 10, cpuAllocationRatio: 4, memoryMb: 65536, ramAllocationRatio: 1 }, // 40 vCPUs
          { ...base, name: "h-ratio2", cpuCount: 8, cpuAllocationRatio: 2, memoryMb: 65536, ramAllocationRatio: 1 }, // 16
          {
            ...base,
            name: "h-reserved",
            cpuCount: 26,
            reservedCpus: 2,
            cpuAllocationRatio: 1,
            memoryMb: 65536,
            ramAllocationRatio: 1,
          }, // 24
          { ...base, name: "h-ram", cpuCount: 64, cpuAllocationRatio: 1, memoryMb: 4096, ramAllocationRatio: 1.25 }, // 5120 MiB = 20 × 256
        ],
      });
      // An aarch64 host that stopped heartbeating long ago: the offline sweep (periodic work) takes it offline, once.
      await db().host.create({
        data: {
          ...base,
          name: "arm-stale",
          arch: "aarch64",
          nativeArches: '["aarch64"]',
          cpuCount: 4,
          memoryMb: 4096,
          lastHeartbeatAt: new Date(Date.now() - 3_600_000),
        },
      });
      const image = await db().image.create({
        data: { name: "img", arch: "x86_64", format: "kernel", status: "ready", minMemoryMb: 64 },
      });
      const network = await db().network.create({
        data: {
          name: "net",
          vlanId: 77,
          cidr: "10.77.0.0/24",
          gateway: "10.77.0.1",
          poolStart: "10.77.0.10",
          poolEnd: "10.77.0.250",
        },
      });

      const everyMs = 500;
      const ttlMs = 2_000;
      const env = {
        ...process.env,
        DATABASE_URL: database!.url,
        POLYARCH_DATA_DIR: mkdtempSync(join(tmpdir(), "polyarch-controller-")),
        POLYARCH_HEARTBEAT_TIMEOUT_MS: "600000",
      };
      const a = new Controller(env, { everyMs, ttlMs });
      const b = new Controller(env, { everyMs, ttlMs });
      controllers.push(a, b);
      await Promise.all([a, b].map((c) => c.until("ready", (ev) => ev.some((e) => e.event === "ready"))));
      const idOf = (c: Controller) => c.events.find((e) => e.event === "ready")!.id as string;

      // Periodic work is running in exactly one of them.
      await waitFor(
        "three offline-sweep runs",
        async () => (await db().jobRun.count({ where: { job: "offline-sweep" } })) >= 3,
      );
      expect([idOf(a), idOf(b)]).toContain(
        (await db().lease.findUniqueOrThrow({ where: { name: "offline-sweep" } })).holder,
      );
      expect(await db().host.findUniqueOrThrow({ where: { name: "arm-stale" } })).toMatchObject({ status: "offline" });

      // 200 parallel creates, 100 in each controller. At the first answer the controller holding the
      // periodic-work lease then is SIGKILLed with its creates in flight.
      const create = (c: Controller, prefix: string) =>
        c.send({ cmd: "create", count: 100, prefix, imageId: image.id, networkId: network.id, arch: "x86_64" });
      const startedAt = performance.now();
      create(a, "a");
      create(b, "b");
      await Promise.race([a, b].map((c) => c.until("a first create result", () => c.results().length > 0)));
      const holderAtKill = (await db().lease.findUniqueOrThrow({ where: { name: "offline-sweep" } })).holder;
      const victim = holderAtKill === idOf(a) ? a : b;
      const survivor = victim === a ? b : a;
      await victim.kill();
      const killedAtMs = await dbNowMs();
      const victimReported = victim.results();
      const vPrefix = victim === a ? "a-" : "b-";
      expect(
        victim.events.some((e) => e.event === "done"),
        "the victim finished all its creates before the kill: nothing was in flight",
      ).toBe(false);
      await survivor.until("all its creates", (ev) => ev.some((e) => e.event === "done"));
      const createsMs = performance.now() - startedAt;

      // Every answered create was placed or refused for lack of capacity.
      const answered = [...victimReported, ...survivor.results()];
      expect(survivor.results()).toHaveLength(100);
      for (const r of answered) {
        if (!r.ok) {
          expect(r.code, r.message).toBe("conflict");
          expect(r.message).toMatch(NO_CAPACITY);
        }
      }

      // Exactly 100 placed, none half-written.
      const vms = await db().vm.findMany({ include: { tasks: { include: { steps: true } }, nics: true } });
      expect(vms).toHaveLength(100);
      for (const vm of vms) {
        expect(vm.hostId, vm.name).not.toBeNull();
        expect(vm.status).toBe("creating");
        expect(
          vm.tasks.map((t) => t.kind),
          vm.name,
        ).toEqual(["vm.create"]);
        expect(vm.tasks[0]!.steps).toHaveLength(6);
        expect(vm.nics, vm.name).toHaveLength(1);
        expect(vm.nics[0]!.ip).toBeTruthy();
      }
      expect(await db().task.count()).toBe(100);
      expect(await db().nic.count()).toBe(100);
      expect(new Set(vms.map((v) => v.nics[0]!.ip)).size).toBe(100);
      expect(new Set(vms.map((v) => v.nics[0]!.mac)).size).toBe(100);
      const byName = new Map(vms.map((v) => [v.name, v]));
      for (const r of answered) {
        if (r.ok) expect(byName.get(r.name)?.id, r.name).toBe(r.vmId);
        else expect(byName.has(r.name), r.name).toBe(false);
      }
      // The killed controller's unanswered creates: each fully there (checked above) or fully absent.
      const victimInDb = vms.filter((v) => v.name.startsWith(vPrefix));
      const victimOk = victimReported.filter((r) => r.ok).length;
      expect(victimInDb.length).toBeGreaterThanOrEqual(victimOk);
      expect(victimInDb.length + survivor.results().filter((r) => r.ok).length).toBe(100);
      console.log(
        JSON.stringify({
          createsMs: Math.round(createsMs),
          victimAnswered: victimReported.length,
          victimPlacedAnswered: victimOk,
          victimCommittedUnanswered: victimInDb.length - victimOk,
          survivorPlaced: 100 - victimInDb.length,
          survivorRefused: survivor.results().filter((r) => !r.ok).length,
        }),
      );

      // No host overcommitted; every reservation belongs to a VM.
      for (const h of await db().host.findMany({ include: { vms: true } })) {
        const sum = (k: "vcpus" | "memoryMb" | "diskGb") => h.vms.reduce((s, v) => s + v[k], 0);
        expect([h.allocatedCpus, h.allocatedMemoryMb, h.allocatedDiskGb], h.name).toEqual([
          sum("vcpus"),
          sum("memoryMb"),
          sum("diskGb"),
        ]);
        expect(h.allocatedCpus, h.name).toBeLessThanOrEqual(h.cpuCount * h.cpuAllocationRatio - h.reservedCpus);
        expect(h.allocatedMemoryMb, h.name).toBeLessThanOrEqual(h.memoryMb * h.ramAllocationRatio - h.reservedMemoryMb);
        expect(h.allocatedDiskGb, h.name).toBeLessThanOrEqual(h.diskGb - h.reservedDiskGb);
      }

      // The periodic-work lease moved to the survivor and its job kept running.
      await waitFor(
        "the survivor running the offline sweep",
        async () =>
          (await db().jobRun.count({
            where: { job: "offline-sweep", holder: idOf(survivor), startedAtMs: { gt: BigInt(killedAtMs) } },
          })) >= 3,
      );
      expect((await db().lease.findUniqueOrThrow({ where: { name: "offline-sweep" } })).holder).toBe(idOf(survivor));
      const runs = await db().jobRun.findMany({ where: { job: "offline-sweep" }, orderBy: { startedAtMs: "asc" } });
      for (let i = 1; i < runs.length; i++) {
        // never two runs in one period, whoever ran them (database clock)
        expect(Number(runs[i]!.startedAtMs - runs[i - 1]!.startedAtMs)).toBeGreaterThanOrEqual(everyMs * 0.8);
        // fencing tokens only grow, and a token never changes holder
        expect(runs[i]!.fencing).toBeGreaterThanOrEqual(runs[i - 1]!.fencing);
        if (runs[i]!.fencing === runs[i - 1]!.fencing) expect(runs[i]!.holder).toBe(runs[i - 1]!.holder);
      }
      // (Under this load the victim may have lost the lease before the kill: its renewals queue behind
      // its 100 creates for the same connection pool. The invariants above hold either way.)
      const handovers = runs.filter((r, i) => i > 0 && r.holder !== runs[i - 1]!.holder);
      const firstSurvivorRunAfterKill = runs.find(
        (r) => r.holder === idOf(survivor) && Number(r.startedAtMs) > killedAtMs,
      )!;
      console.log(
        JSON.stringify({
          leaseTtlMs: ttlMs,
          victimHeldAtKill: holderAtKill === idOf(victim),
          handovers: handovers.length,
          survivorRunAfterKillMs: Number(firstSurvivorRunAfterKill.startedAtMs) - killedAtMs,
          runs: runs.length,
        }),
      );
      // The stale host went offline once: the sweep's work was not duplicated.
      expect(await db().auditEvent.count({ where: { action: "host.offline" } })).toBe(1);

      // The dead controller's tasks (left running) are failed once its liveness lease expired; the
      // survivor's stay running. Its VMs keep their records in error, their reservations released.
      const victimLease = await db().lease.findUniqueOrThrow({ where: { name: `controller:${idOf(victim)}` } });
      await waitFor(
        "the victim's liveness lease to expire",
        async () => (await dbNowMs()) > Number(victimLease.expiresAtMs),
      );
      expect(await sweepOrphanedTasks()).toEqual({ failed: victimInDb.length });
      const tasks = await db().task.findMany({ include: { vm: true } });
      for (const t of tasks) {
        if (t.controllerId === idOf(victim)) {
          expect(t).toMatchObject({ status: "failed" });
          expect(t.vm).toMatchObject({ status: "error", hostId: null });
        } else {
          expect(t.controllerId).toBe(idOf(survivor));
          expect(t.status).toBe("running");
        }
      }
      const allocated = (await db().host.findMany()).reduce((s, h) => s + h.allocatedCpus, 0);
      expect(allocated).toBe(100 - victimInDb.length);

      survivor.send({ cmd: "stop" });
      expect(await survivor.exited).toBe(0);
      // A stopping controller hands its lease back at once.
      expect(Number((await db().lease.findUniqueOrThrow({ where: { name: "offline-sweep" } })).expiresAtMs)).toBe(0);
    },
    300_000,
  );
});
