// Cluster-wide leases on SQLite and PostgreSQL: one holder at a time, fencing grows on every hand-over,
// runs are gated by the database, a stopped holder's job moves on, orphaned tasks are failed.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import type { TestDatabase } from "../../../prisma/test-db";
import { db } from "./db";
import {
  acquireLease,
  activeControllerId,
  claimRun,
  dbNowMs,
  releaseLease,
  startControllerLiveness,
  startPeriodicJob,
  withLease,
} from "./leases";
import { sweepOrphanedTasks } from "../vms";
import { createVm } from "../vms";

/** Waits until the database clock has passed `ms` (lease expiry is judged by the database). */
async function untilDbTime(ms: number) {
  while ((await dbNowMs()) <= ms) await new Promise((r) => setTimeout(r, 20));
}

async function waitFor<T>(
  what: string,
  fn: () => Promise<T | null | undefined | false>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe.each(PROVIDERS)("leases on %s", (provider) => {
  let database: TestDatabase | undefined;
  beforeEach(async () => {
    database = await useFreshDatabase(provider);
  });
  afterEach(async () => {
    await releaseDatabase(database);
  });

  it("one holder until expiry; the fencing token grows on every change of holder, not on renewal", async () => {
    const a1 = await acquireLease("job", 1_500, "A");
    expect(a1).toMatchObject({ held: true, fencing: 1 });
    expect(await acquireLease("job", 1_500, "B")).toMatchObject({ held: false, holder: "A", fencing: 1 });
    const a2 = await acquireLease("job", 1_500, "A");
    expect(a2).toMatchObject({ held: true, fencing: 1 });
    expect(a2.expiresAtMs).toBeGreaterThanOrEqual(a1.expiresAtMs);
    await untilDbTime(a2.expiresAtMs);
    expect(await acquireLease("job", 60_000, "B")).toMatchObject({ held: true, fencing: 2 });
    expect(await acquireLease("job", 1_500, "A")).toMatchObject({ held: false, holder: "B", fencing: 2 });
    await releaseLease("job", "A"); // not A's: no effect
    expect(await acquireLease("job", 1_500, "A")).toMatchObject({ held: false, holder: "B" });
    await releaseLease("job", "B");
    expect(await acquireLease("job", 1_500, "A")).toMatchObject({ held: true, fencing: 3 });
  });

  it("twenty controllers racing for a free lease: exactly one gets it", async () => {
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => acquireLease("race", 60_000, `c${i}`)));
    const winners = results.filter((r) => r.held);
    expect(winners).toHaveLength(1);
    expect((await db().lease.findUniqueOrThrow({ where: { name: "race" } })).holder).toBe(winners[0]!.holder);
  });

  it("a run is recorded only under the current fencing token, an unexpired lease and after the interval", async () => {
    const a = await acquireLease("job", 1_500, "A");
    if (!a.held) throw new Error("not held");
    const first = await claimRun("job", a.fencing, 60_000, "A");
    expect(first).toBeTruthy();
    expect(await claimRun("job", a.fencing, 60_000, "A")).toBeNull(); // within the interval
    await untilDbTime(a.expiresAtMs);
    expect(await claimRun("job", a.fencing, 0, "A")).toBeNull(); // lease expired
    const b = await acquireLease("job", 60_000, "B");
    if (!b.held) throw new Error("not held");
    expect(await claimRun("job", a.fencing, 0, "B")).toBeNull(); // stale token
    expect(await claimRun("job", b.fencing, 0, "A")).toBeNull(); // not the holder
    expect(await claimRun("job", b.fencing, 0, "B")).toBeTruthy();
    const runs = await db().jobRun.findMany({ orderBy: { startedAtMs: "asc" } });
    expect(runs.map((r) => [r.holder, r.fencing])).toEqual([
      ["A", 1],
      ["B", 2],
    ]);
    expect((await db().lease.findUniqueOrThrow({ where: { name: "job" } })).runs).toBe(2);
  });

  it("two controllers run a periodic job: one holder at a time, once per period; the other takes over when it stops", async () => {
    const everyMs = 150;
    let ranA = 0;
    let ranB = 0;
    const a = startPeriodicJob({
      name: "sweep",
      everyMs,
      ttlMs: 600,
      holder: "A",
      run: async () => {
        ranA++;
      },
    });
    const b = startPeriodicJob({
      name: "sweep",
      everyMs,
      ttlMs: 600,
      holder: "B",
      run: async () => {
        ranB++;
      },
    });
    try {
      await waitFor("5 runs", async () => (await db().jobRun.count()) >= 5);
      const holder = (await db().lease.findUniqueOrThrow({ where: { name: "sweep" } })).holder;
      const [first, second] = holder === "A" ? [a, b] : [b, a];
      const other = holder === "A" ? "B" : "A";
      await first.stop();
      await waitFor(
        "runs by the other controller",
        async () => (await db().jobRun.count({ where: { holder: other } })) >= 3,
      );
      await second.stop();
    } finally {
      await a.stop();
      await b.stop();
    }
    const runs = await db().jobRun.findMany({ orderBy: { startedAtMs: "asc" } });
    expect(ranA + ranB).toBe(runs.length);
    expect(runs.every((r) => r.ok === true && r.finishedAtMs !== null)).toBe(true);
    // Never two runs in one period, whoever ran them (database clock).
    for (let i = 1; i < runs.length; i++)
      expect(Number(runs[i]!.startedAtMs - runs[i - 1]!.startedAtMs)).toBeGreaterThanOrEqual(everyMs * 0.8);
    // Each fencing token belongs to one holder and tokens only grow over time.
    const holderOf = new Map<number, string>();
    for (const r of runs) {
      expect(holderOf.get(r.fencing) ?? r.holder).toBe(r.holder);
      holderOf.set(r.fencing, r.holder);
    }
    expect(runs.map((r) => r.fencing)).toEqual([...runs.map((r) => r.fencing)].sort((x, y) => x - y));
    expect(new Set(runs.map((r) => r.holder)).size).toBe(2);
  });

  it("withLease runs critical sections one after the other", async () => {
    const log: string[] = [];
    const section = (who: string) => async () => {
      log.push(`${who}+`);
      await new Promise((r) => setTimeout(r, 100));
      log.push(`${who}-`);
    };
    await Promise.all(["A", "B", "C"].map((who) => withLease("startup", section(who), { holder: who, ttlMs: 5_000 })));
    for (let i = 0; i < log.length; i += 2) expect(log[i + 1]).toBe(log[i]!.replace("+", "-"));
  });

  it("tasks of a controller whose liveness lease expired are failed; a create's reservation is released", async () => {
    const host = await db().host.create({
      data: {
        name: "h",
        arch: "x86_64",
        cpuCount: 4,
        memoryMb: 8192,
        diskGb: 100,
        status: "online",
        cpuAllocationRatio: 1,
        ramAllocationRatio: 1,
        nativeArches: '["x86_64"]',
        emulatedArches: "[]",
        agentUrl: "http://127.0.0.1:9", // placement needs an agent address; nothing answers there
      },
    });
    const image = await db().image.create({ data: { name: "img", arch: "x86_64", format: "kernel", status: "ready" } });
    const who = {
      actor: { id: "u", email: "u@t.test", name: "U", role: "admin" as const, via: "session" as const },
      clientIp: null,
    };
    const input = (name: string) => ({
      name,
      arch: "x86_64" as const,
      imageId: image.id,
      vcpus: 1,
      memoryMb: 256,
      diskGb: 1,
      networkId: null,
      allowEmulation: false,
      strategy: "spread" as const,
    });
    // Without a liveness lease in this process tasks carry no controller id and are never swept.
    const untracked = await createVm(input("untracked"), who, { provision: false });
    expect((await db().task.findUniqueOrThrow({ where: { id: untracked.task.id } })).controllerId).toBeNull();

    const me = startControllerLiveness({ everyMs: 1_000, ttlMs: 60_000 });
    let mine;
    try {
      await waitFor("the liveness lease", async () => activeControllerId());
      mine = await createVm(input("mine"), who, { provision: false });
      expect((await db().task.findUniqueOrThrow({ where: { id: mine.task.id } })).controllerId).toBeTruthy();
      // A dead controller's create: same shape, stamped with an id whose lease expired.
      const deadLease = await acquireLease("controller:dead", 1, "dead");
      const dead = await createVm(input("dead"), who, { provision: false });
      await db().task.update({ where: { id: dead.task.id }, data: { controllerId: "dead" } });
      await untilDbTime(deadLease.expiresAtMs);
      expect((await db().host.findUniqueOrThrow({ where: { id: host.id } })).allocatedCpus).toBe(3);

      expect(await sweepOrphanedTasks()).toEqual({ failed: 1 });
      const task = await db().task.findUniqueOrThrow({ where: { id: dead.task.id }, include: { steps: true } });
      expect(task.status).toBe("failed");
      expect(task.error).toMatch(/controller running this task \(dead\) stopped/);
      expect(task.steps.some((s) => s.status === "pending" || s.status === "running")).toBe(false);
      const vm = await db().vm.findUniqueOrThrow({ where: { id: dead.vm!.id } });
      expect(vm).toMatchObject({ status: "error", hostId: null });
      expect((await db().host.findUniqueOrThrow({ where: { id: host.id } })).allocatedCpus).toBe(2);
      // Idempotent; the live controller's and the untracked task stay running.
      expect(await sweepOrphanedTasks()).toEqual({ failed: 0 });
      expect((await db().task.findUniqueOrThrow({ where: { id: mine.task.id } })).status).toBe("running");
      expect((await db().task.findUniqueOrThrow({ where: { id: untracked.task.id } })).status).toBe("running");
    } finally {
      await me.stop();
    }
    // A controller that stops releases its liveness lease: its running tasks are orphans at once.
    expect(await sweepOrphanedTasks()).toEqual({ failed: 1 });
    expect((await db().task.findUniqueOrThrow({ where: { id: mine.task.id } })).status).toBe("failed");
    expect((await db().host.findUniqueOrThrow({ where: { id: host.id } })).allocatedCpus).toBe(1);
    // A dead controller's delete: its VM is handed back to the user (with the reason), not left "deleting".
    const doomed = await createVm(input("doomed"), who, { provision: false });
    await db().vm.update({ where: { id: doomed.vm!.id }, data: { status: "deleting", desiredState: "deleted" } });
    const del = await db().task.create({
      data: { kind: "vm.delete", vmId: doomed.vm!.id, status: "running", startedAt: new Date(), controllerId: "dead" },
    });
    await db().task.update({ where: { id: doomed.task.id }, data: { status: "succeeded" } });
    expect(await sweepOrphanedTasks()).toEqual({ failed: 1 });
    expect((await db().task.findUniqueOrThrow({ where: { id: del.id } })).status).toBe("failed");
    expect(await db().vm.findUniqueOrThrow({ where: { id: doomed.vm!.id } })).toMatchObject({
      status: "unknown",
      lastError: expect.stringMatching(/delete was interrupted.*Delete the VM again/),
    });
  });
});
