// PostgreSQL restarted under load (issue 15). Two controller processes (lib/server/testing/controller-process.ts:
// the real periodic work under leases and the real route handlers of the JSON API over HTTP) run on a private
// PostgreSQL cluster of this file's own (lib/server/testing/private-pg.ts) while workers list VMs, list hosts and
// create VMs through both with an admin's API token. The server is restarted once cleanly (`pg_ctl restart -m
// fast`) and crashed once (`pg_ctl stop -m immediate`, down 3 s, then started: crash recovery). Proven: neither
// controller dies or reports an unhandled rejection, no request hangs, every failure is a 503
// `{error:{code:"database_unavailable",message}}`, requests succeed again once PostgreSQL is back without
// restarting anything, the periodic work resumes, and nothing is half-written: every task ends succeeded or
// failed with a message, host allocations equal the sum of their VMs.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate } from "../../../scripts/migrate.mjs";
import { insertTestHost, insertTestImage } from "../testing/rows";
import { postgresBinDir, startPrivatePg, type PrivatePg } from "../testing/private-pg";
import { createToken } from "../identity";
import { db, resetDbForTests } from "./db";
import { resetEnvForTests } from "./env";
import { dbNowMs } from "./leases";

/** A request still unanswered after this long counts as hung (the server's own bounds are far lower). */
const HUNG_MS = 60_000;
const ROOT = join(__dirname, "../../..");

type Kind = "list-vms" | "list-hosts" | "create-vm";
type Sample = { kind: Kind; start: number; end: number; status: number; code: string | null; message: string };
type Event = { event?: string; [k: string]: unknown };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One controller-process.ts child: its events (one JSON object a line on stdout) and its stderr tail. */
function startController(env: NodeJS.ProcessEnv) {
  const proc: ChildProcessWithoutNullStreams = spawn(
    process.execPath,
    [
      "--conditions=react-server",
      "--import",
      "tsx",
      "lib/server/testing/controller-process.ts",
      '{"everyMs":500,"ttlMs":10000}',
    ],
    { env, stdio: ["pipe", "pipe", "pipe"] },
  );
  const events: Event[] = [];
  let stderr = "";
  proc.stderr.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  createInterface({ input: proc.stdout }).on("line", (line) => {
    try {
      const e = JSON.parse(line) as Event;
      if (e.event) events.push(e);
    } catch {
      // a log line of the controller's own
    }
  });
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  return {
    proc,
    events,
    get alive() {
      return proc.exitCode === null && proc.signalCode === null;
    },
    async until(what: string, pred: (e: Event) => boolean): Promise<Event> {
      const deadline = Date.now() + 120_000;
      for (;;) {
        const hit = events.find(pred);
        if (hit) return hit;
        if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`controller: no ${what}: ${stderr}`);
        await sleep(50);
      }
    },
    send: (cmd: Record<string, unknown>) => proc.stdin.write(JSON.stringify(cmd) + "\n"),
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.stdin.write('{"cmd":"stop"}\n');
      const killer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(killer);
    },
  };
}

describe.skipIf(!postgresBinDir())("PostgreSQL restarted under load (two controllers, private cluster)", () => {
  let pg: PrivatePg | null = null;
  const controllers: ReturnType<typeof startController>[] = [];
  const urls: string[] = [];
  let token = "";
  let imageId = "";
  const dataDir = mkdtempSync(join(tmpdir(), "polyarch-pg-restart-"));

  beforeAll(async () => {
    pg = await startPrivatePg();
    if (!pg) throw new Error("PostgreSQL binaries vanished");
    await migrate({ url: pg.url });
    process.env.DATABASE_URL = pg.url;
    process.env.POLYARCH_DATA_DIR = dataDir;
    resetEnvForTests();
    await resetDbForTests();
    // One host with room for every create; its agent address answers nothing, so each create's
    // provisioning fails (task failed, reservation released): the database work is what is under test.
    await insertTestHost({ lastHeartbeatAt: new Date(), cpuCount: 64, cpuAllocationRatio: 16 });
    imageId = (await insertTestImage()).id;
    const admin = await db().user.create({
      data: { id: "pg-restart-admin", email: "admin@pg-restart.test", name: "Admin", role: "admin" },
    });
    token = (await createToken({ ...admin, role: "admin", via: "session" }, "load", 0, null)).token;

    const env = {
      ...process.env,
      DATABASE_URL: pg.url,
      POLYARCH_DATA_DIR: dataDir,
      POLYARCH_HEARTBEAT_TIMEOUT_MS: "600000", // the seeded host has no agent heartbeating
    };
    controllers.push(startController(env), startController(env));
    for (const c of controllers) {
      await c.until("ready", (e) => e.event === "ready");
      c.send({ cmd: "serve" });
      urls.push((await c.until("serving", (e) => e.event === "serving")).url as string);
    }
  }, 180_000);

  afterAll(async () => {
    await Promise.all(controllers.map((c) => c.stop()));
    await resetDbForTests();
    await pg?.destroy();
    rmSync(dataDir, { recursive: true, force: true });
  });

  let n = 0;
  async function call(kind: Kind, baseUrl: string): Promise<Sample> {
    const start = performance.now();
    const init: RequestInit = { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(HUNG_MS) };
    const path = kind === "list-vms" ? "/api/v1/vms" : kind === "list-hosts" ? "/api/v1/hosts" : "/api/v1/vms";
    if (kind === "create-vm") {
      init.method = "POST";
      init.headers = { ...init.headers, "content-type": "application/json" };
      init.body = JSON.stringify({ name: `vm-${n++}`, arch: "x86_64", imageId, vcpus: 1, memoryMb: 64, diskGb: 1 });
    }
    try {
      const res = await fetch(`${baseUrl}${path}`, init);
      const text = await res.text();
      let code: string | null = null;
      let message = "";
      if (!res.ok) {
        try {
          const body = JSON.parse(text) as { error?: { code?: string; message?: string } };
          code = body.error?.code ?? "(no code)";
          message = body.error?.message ?? text.slice(0, 200);
        } catch {
          code = "(not json)";
          message = text.slice(0, 200);
        }
      }
      return { kind, start, end: performance.now(), status: res.status, code, message };
    } catch (error) {
      return { kind, start, end: performance.now(), status: 0, code: "(no answer)", message: String(error) };
    }
  }

  /** Workers loop over the three requests until stopped; every answer is kept. */
  function load(workers: number) {
    const samples: Sample[] = [];
    let stopped = false;
    const kinds: Kind[] = ["list-vms", "list-hosts", "create-vm"];
    const running = Array.from({ length: workers }, async (_, w) => {
      for (let i = w; !stopped; i++) {
        samples.push(await call(kinds[i % kinds.length]!, urls[i % urls.length]!));
        await sleep(10);
      }
    });
    return {
      samples,
      async stop() {
        stopped = true;
        await Promise.all(running);
      },
    };
  }

  /** Resolves when, after `since`, every kind has answered 2xx three times in a row. */
  async function recovered(samples: Sample[], since: number): Promise<number> {
    const deadline = Date.now() + 90_000;
    for (;;) {
      const ok = (["list-vms", "list-hosts", "create-vm"] as Kind[]).every((k) => {
        const after = samples.filter((s) => s.kind === k && s.start >= since);
        return after.length >= 3 && after.slice(-3).every((s) => s.status >= 200 && s.status < 300);
      });
      if (ok) return samples.find((s) => s.start >= since && s.status < 300)!.end - since;
      if (Date.now() > deadline) throw new Error("requests did not succeed again within 90 s of PostgreSQL being back");
      await sleep(100);
    }
  }

  it("fast restart and crash: bounded failures, clear 503s, recovery without restarting controllers, nothing half-written", async () => {
    const run = load(4);
    const outages: Array<{ mode: string; down: number; up: number; recoveredMs: number }> = [];
    await sleep(2_000);
    for (const mode of ["fast", "immediate"] as const) {
      const down = performance.now();
      if (mode === "fast") await pg!.restart("fast");
      else {
        await pg!.stop("immediate");
        await sleep(3_000); // a crashed database that stays away for a while
        await pg!.start();
      }
      const up = performance.now();
      outages.push({ mode, down, up, recoveredMs: await recovered(run.samples, up) });
      await sleep(1_000);
    }
    await run.stop();
    const samples = run.samples;

    const failed = samples.filter((s) => s.status < 200 || s.status >= 300);
    const byStatus: Record<string, number> = {};
    for (const s of failed) byStatus[`${s.status} ${s.code}`] = (byStatus[`${s.status} ${s.code}`] ?? 0) + 1;
    const report = outages.map((o) => {
      const during = samples.filter((s) => s.end >= o.down && s.start <= o.up + o.recoveredMs);
      const bad = during.filter((s) => s.status >= 300 || s.status < 200);
      return {
        mode: o.mode,
        pgDownMs: Math.round(o.up - o.down),
        recoveredAfterUpMs: Math.round(o.recoveredMs),
        requests: during.length,
        failed: bad.length,
        failingForMs: bad.length
          ? Math.round(Math.max(...bad.map((s) => s.end)) - Math.min(...bad.map((s) => s.start)))
          : 0,
        longestMs: Math.round(Math.max(...during.map((s) => s.end - s.start))),
      };
    });
    console.log(JSON.stringify({ total: samples.length, byStatus, outages: report }));
    for (const s of failed.slice(0, 5)) console.log(JSON.stringify(s));

    // No rejection of ours goes unhandled. Prisma's transaction manager leaves one now and then when a
    // COMMIT meets a dead connection (only node_modules frames): Next logs those and goes on, as this process does.
    const rejections = controllers.flatMap((c) =>
      c.events.filter((e) => e.event === "unhandled-rejection").map((e) => String(e.message)),
    );
    const ours = rejections.filter((m) => m.includes(join(ROOT, "lib/")) || m.includes(join(ROOT, "app/")));
    expect(ours).toEqual([]);
    console.log(JSON.stringify({ unhandledRejectionsInPrisma: rejections.length }));
    for (const c of controllers) expect(c.alive, "a controller died").toBe(true);
    expect(failed.filter((s) => s.status === 0)).toEqual([]);
    for (const s of failed) {
      expect({ status: s.status, code: s.code }, s.message).toEqual({ status: 503, code: "database_unavailable" });
      expect(s.message).toMatch(/database/i);
    }
    expect(failed.length, "the outages were seen by the load").toBeGreaterThan(0);

    // Afterwards: every create's task ends (provisioning fails against the silent agent address).
    const deadline = Date.now() + 60_000;
    while ((await db().task.count({ where: { status: { in: ["pending", "running"] } } })) > 0) {
      if (Date.now() > deadline) break;
      await sleep(200);
    }
    const tasks = await db().task.findMany({ include: { vm: true, steps: true } });
    const vms = await db().vm.findMany({ include: { tasks: true } });
    const answeredCreates = samples.filter((s) => s.kind === "create-vm" && s.status === 202).length;
    expect(vms.length).toBeGreaterThanOrEqual(answeredCreates);
    for (const t of tasks) {
      expect(t.status, `${t.kind} ${t.id}: ${t.error}`).toMatch(/^(succeeded|failed)$/);
      if (t.status === "failed") expect(t.error, t.id).toBeTruthy();
    }
    for (const vm of vms) {
      expect(
        vm.tasks.map((t) => t.kind),
        vm.name,
      ).toEqual(["vm.create"]);
      expect(vm.status, vm.name).toBe("error");
      expect(vm.hostId, vm.name).toBeNull();
    }
    for (const h of await db().host.findMany({ include: { vms: true } })) {
      const sum = (k: "vcpus" | "memoryMb" | "diskGb") => h.vms.reduce((s, v) => s + v[k], 0);
      expect([h.allocatedCpus, h.allocatedMemoryMb, h.allocatedDiskGb], h.name).toEqual([
        sum("vcpus"),
        sum("memoryMb"),
        sum("diskGb"),
      ]);
    }
    // VMs beyond the 202s: creates committed although their request got a 503 (settled as failed, see vms/provision.ts).
    console.log(JSON.stringify({ vms: vms.length, answeredCreates, tasks: tasks.length }));

    // Both controllers renew their liveness and the periodic work runs again, on the same processes.
    const nowMs = await dbNowMs();
    for (const c of controllers) {
      const id = c.events.find((e) => e.event === "ready")!.id as string;
      await expect
        .poll(
          async () => Number((await db().lease.findUnique({ where: { name: `controller:${id}` } }))?.expiresAtMs ?? 0),
          { timeout: 30_000 },
        )
        .toBeGreaterThan(nowMs);
    }
    await expect
      .poll(() => db().jobRun.count({ where: { job: "offline-sweep", startedAtMs: { gt: BigInt(nowMs) } } }), {
        timeout: 30_000,
      })
      .toBeGreaterThanOrEqual(2);
  }, 240_000);
});
