// VM creates through the API, sustained (issue 16; `BENCH=creates npm run bench`): the built
// controller (node dist/server.mjs, its own process, via the fault rig's ControllerProcess) on a
// fresh SQLite (and, with POLYARCH_TEST_PG_URL, PostgreSQL) database, a fleet of simulated hosts
// (bench/create-fleet.ts: mutual TLS, the real agent API, instant VM backend, heart-beating), and
// `POST /api/v1/vms` with an admin API token from C concurrent clients for a fixed window. Each
// create is answered 202 after placement; provisioning (the agent PUT with its streamed steps) runs
// after the answer, in the same controller. Measured: creates/s (202 answers completed in the
// window), p50/p99 latency, errors, the controller's CPU; then, once every task ended: overcommit
// (each host's allocations = the sum of its VMs' claims, and within its capacity), VMs stuck or
// failed, VMs the agents hold vs the database. References in the same run: the same creates from one
// client, and GET /api/v1/vms (a read through the same stack) from C clients.
//
//   node --conditions=react-server --import tsx bench/creates.ts
// Knobs: BENCH_CREATES_HOSTS (60), BENCH_CREATES_CONCURRENCY (32), BENCH_CREATES_SECONDS (30),
// BENCH_CREATES_DBS (sqlite,postgresql), BENCH_CREATES_NETWORK=0 (creates without a NIC),
// BENCH_CREATES_CPU_PROF=<dir> (keep the controller's CPU profile of the profiled window there,
// bench/cpu-profiler.mjs; its breakdown by layer is always printed, bench/cpu-breakdown.ts).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freshPostgres, freshSqlite, testPgUrl, type TestDatabase } from "../prisma/test-db";
import { db, resetDbForTests, resetEnvForTests } from "../lib/server/platform";
import { Api } from "../lib/server/testing/fault-rig/api";
import { ControllerProcess, JOIN_TOKEN, missingBuild } from "../lib/server/testing/fault-rig/controller";
import { SimFleet } from "./create-fleet";
import { sleep, TICK_MS } from "./proc";
import { cpuByLayer, LAYERS, type CpuProfile, type Layer } from "./cpu-breakdown";
import { summarize } from "./summary";
import { percentile, printTable } from "./table";

const num = (name: string, fallback: number) => Math.max(1, Number(process.env[name] ?? fallback));
const HOSTS = num("BENCH_CREATES_HOSTS", 60);
const CONCURRENCY = num("BENCH_CREATES_CONCURRENCY", 32);
const WINDOW_MS = num("BENCH_CREATES_SECONDS", 30) * 1000;
const WARMUP_MS = 5_000;
const REFERENCE_MS = 10_000;
const WITH_NETWORK = process.env.BENCH_CREATES_NETWORK !== "0";
const PROF_DIR = process.env.BENCH_CREATES_CPU_PROF ? path.resolve(process.env.BENCH_CREATES_CPU_PROF) : null;
/** A second, profiled window after the measured one: where the controller's CPU goes per create. */
const PROFILED_MS = 8_000;
const GOAL_PER_S = 100;

interface Sample {
  startMs: number;
  endMs: number;
  status: number;
  error?: string;
}

interface Rate {
  perSecond: number;
  ok: number;
  errors: number;
  p50: number;
  p99: number;
  /** the first few distinct failures */
  failures: string[];
}

/** Answers completed in [t0, t1): ok ones per second and their latency; anything else is an error. */
function rateOf(samples: Sample[], okStatus: number[], t0: number, t1: number): Rate {
  const inWindow = samples.filter((s) => s.endMs >= t0 && s.endMs < t1);
  const ok = inWindow.filter((s) => okStatus.includes(s.status));
  const lat = ok.map((s) => s.endMs - s.startMs);
  const failures = new Map<string, number>();
  for (const s of inWindow)
    if (!okStatus.includes(s.status)) {
      const k = `${s.status} ${s.error ?? ""}`.slice(0, 160);
      failures.set(k, (failures.get(k) ?? 0) + 1);
    }
  return {
    perSecond: (ok.length * 1000) / (t1 - t0),
    ok: ok.length,
    errors: inWindow.length - ok.length,
    p50: lat.length ? percentile(lat, 50) : NaN,
    p99: lat.length ? percentile(lat, 99) : NaN,
    failures: [...failures].map(([k, n]) => `${n}× ${k}`).slice(0, 4),
  };
}

/** utime+stime (ms) of one process (the controller spawns no children). */
function cpuMs(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) * TICK_MS;
}

/** C clients, each sending `request()` back to back until `untilMs` (performance.now()). */
async function drive(
  clients: number,
  untilMs: number,
  request: () => Promise<Omit<Sample, "endMs">>,
): Promise<Sample[]> {
  const samples: Sample[] = [];
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < untilMs) samples.push({ ...(await request()), endMs: performance.now() });
    }),
  );
  return samples;
}

interface Checked {
  overcommitted: string[];
  mismatched: string[];
  statuses: Record<string, number>;
  tasks: Record<string, number>;
  agentMismatch: number;
  vms: number;
  maxCpuUse: number;
}

/** After every task ended: allocations = claims and ≤ capacity per host, and what the agents hold. */
async function check(fleet: SimFleet): Promise<Checked> {
  const [hosts, vms, tasks] = await Promise.all([
    db().host.findMany(),
    db().vm.findMany({ select: { id: true, hostId: true, status: true, vcpus: true, memoryMb: true, diskGb: true } }),
    db().task.groupBy({ by: ["status"], where: { kind: "vm.create" }, _count: true }),
  ]);
  const overcommitted: string[] = [];
  const mismatched: string[] = [];
  let maxCpuUse = 0;
  for (const h of hosts) {
    const mine = vms.filter((v) => v.hostId === h.id);
    const claims = {
      cpus: mine.reduce((s, v) => s + v.vcpus, 0),
      memoryMb: mine.reduce((s, v) => s + v.memoryMb, 0),
      diskGb: mine.reduce((s, v) => s + v.diskGb, 0),
    };
    const got = { cpus: h.allocatedCpus, memoryMb: h.allocatedMemoryMb, diskGb: h.allocatedDiskGb };
    if (JSON.stringify(claims) !== JSON.stringify(got))
      mismatched.push(`${h.name}: allocates ${JSON.stringify(got)}, its VMs claim ${JSON.stringify(claims)}`);
    const cap = {
      cpus: h.cpuCount * h.cpuAllocationRatio - h.reservedCpus,
      memoryMb: h.memoryMb * h.ramAllocationRatio - h.reservedMemoryMb,
      diskGb: h.diskGb - h.reservedDiskGb,
    };
    maxCpuUse = Math.max(maxCpuUse, claims.cpus / cap.cpus);
    if (claims.cpus > cap.cpus + 1e-6 || claims.memoryMb > cap.memoryMb + 1e-6 || claims.diskGb > cap.diskGb)
      overcommitted.push(`${h.name}: claims ${JSON.stringify(claims)} > capacity ${JSON.stringify(cap)}`);
  }
  const statuses: Record<string, number> = {};
  for (const v of vms) statuses[v.status] = (statuses[v.status] ?? 0) + 1;
  // Each VM placed on a host must be held by that host's agent, and no agent holds one placed elsewhere.
  const held = fleet.vmsByHost();
  let agentMismatch = 0;
  const placed = new Map<string, number>();
  for (const v of vms) {
    if (!v.hostId) continue;
    placed.set(v.hostId, (placed.get(v.hostId) ?? 0) + 1);
    if (!held.get(v.hostId)?.has(v.id)) agentMismatch++;
  }
  for (const [hostId, ids] of held) agentMismatch += Math.max(0, ids.size - (placed.get(hostId) ?? 0));
  return {
    overcommitted,
    mismatched,
    statuses,
    tasks: Object.fromEntries(tasks.map((t) => [t.status, t._count])),
    agentMismatch,
    vms: vms.length,
    maxCpuUse,
  };
}

interface Result {
  db: string;
  creates: Rate;
  single: Rate;
  reads: Rate;
  cpuPct: number;
  /** controller CPU (all threads) per create answered in the measured window */
  cpuMsPerCreate: number;
  /** the profiled window's main-thread CPU per create, by layer (bench/cpu-breakdown.ts) */
  layersPerCreate: Record<Layer, number> | null;
  loadGenPct: number;
  drainS: number;
  provisionedPerS: number;
  checked: Checked;
  answered: number;
  fleetErrors: string[];
}

/** Waits (at most `ms`) until no task is running. */
async function drained(ms: number): Promise<void> {
  const t0 = performance.now();
  while ((await db().task.count({ where: { status: "running" } })) > 0 && performance.now() - t0 < ms) await sleep(250);
}

/**
 * C clients creating for PROFILED_MS with the controller's CPU profiler on: its main-thread time per
 * create answered, by layer. Separate from the measured window, which runs without the profiler.
 */
async function profiledWindow(
  controller: ControllerProcess,
  dir: string,
  create: () => Promise<Omit<Sample, "endMs">>,
): Promise<{ layers: Record<Layer, number> | null; answered: number }> {
  const file = path.join(dir, `controller-${controller.pid}.cpuprofile`);
  fs.rmSync(file, { force: true });
  process.kill(controller.pid!, "SIGUSR2");
  const t0 = performance.now();
  const samples = await drive(CONCURRENCY, t0 + PROFILED_MS, create);
  process.kill(controller.pid!, "SIGUSR2");
  const answered = rateOf(samples, [201, 202], t0, performance.now()).ok;
  for (let i = 0; i < 100 && !fs.existsSync(file); i++) await sleep(100);
  if (!fs.existsSync(file) || answered === 0) return { layers: null, answered };
  const byLayer = cpuByLayer(JSON.parse(fs.readFileSync(file, "utf8")) as CpuProfile);
  return {
    layers: Object.fromEntries(LAYERS.map((l) => [l, byLayer[l] / answered])) as Record<Layer, number>,
    answered,
  };
}

async function runOne(provider: "sqlite" | "postgresql"): Promise<Result | null> {
  const database: TestDatabase | null = provider === "sqlite" ? await freshSqlite() : await freshPostgres();
  if (!database) return null;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "pa-bcr-"));
  let controller: ControllerProcess | null = null;
  let fleet: SimFleet | null = null;
  try {
    process.env.DATABASE_URL = database.url; // this process reads the outcome from the same database
    process.env.POLYARCH_DATA_DIR = dataDir;
    resetEnvForTests();
    await resetDbForTests();
    const profDir = PROF_DIR ?? path.join(dataDir, "profile");
    fs.mkdirSync(profDir, { recursive: true });
    controller = await ControllerProcess.start({
      env: {
        // the profiled window's profile (Node 20 refuses --cpu-prof in NODE_OPTIONS: bench/cpu-profiler.mjs);
        // idle until signalled
        NODE_OPTIONS: `--import ${new URL("./cpu-profiler.mjs", import.meta.url).href}`,
        BENCH_PROFILE_DIR: profDir,
        // the rig's 12 s is for fault tests; a loaded bench machine must not flap hosts offline
        POLYARCH_HEARTBEAT_TIMEOUT_MS: "30000",
      },
    });
    const api = await Api.asAdmin(controller.url);
    const images = { x86_64: await api.demoImage("x86_64"), aarch64: await api.demoImage("aarch64") };
    const network = WITH_NETWORK
      ? await api.expect<{ id: string }>(201, "POST", "/api/v1/networks", {
          name: "bench-net",
          vlanId: 100,
          cidr: "10.64.0.0/16",
          gateway: "10.64.0.1",
        })
      : null;
    fleet = new SimFleet({
      port: controller.agentTlsPort,
      caPem: fs.readFileSync(controller.caFile, "utf8"),
      joinToken: JOIN_TOKEN,
      hosts: HOSTS,
      imageIds: Object.values(images),
    });
    await fleet.start();
    const online = await db().host.count({ where: { status: "online", approval: "approved" } });
    if (online !== HOSTS) throw new Error(`${online}/${HOSTS} simulated hosts online`);
    // One in four simulated hosts is aarch64 (simFacts): ask for the arches in that ratio.
    let seq = 0;
    const create = async () => {
      const n = seq++;
      const arch = n % 4 === 3 ? "aarch64" : "x86_64";
      const body = {
        name: `bench-${n}`,
        arch,
        imageId: images[arch],
        vcpus: 1,
        memoryMb: 128,
        diskGb: 1,
        ...(network ? { networkId: network.id } : {}),
      };
      const a = await api.call("POST", "/api/v1/vms", body, 60_000);
      const error = a.status === 202 ? undefined : (a.error ?? JSON.stringify(a.body));
      return { startMs: performance.now() - a.ms, status: a.status, error };
    };

    // Reference: one client, creates back to back.
    let t = performance.now();
    const singleSamples = await drive(1, t + REFERENCE_MS, create);
    const single = rateOf(singleSamples, [201, 202], t, performance.now());

    // The window: C clients after a warm-up; CPU of the controller and of this process (load + fleet).
    const start = performance.now();
    const t0 = start + WARMUP_MS;
    const t1 = t0 + WINDOW_MS;
    let cpu0 = 0;
    let own0 = process.cpuUsage();
    const mark = setTimeout(() => {
      cpu0 = cpuMs(controller!.pid!);
      own0 = process.cpuUsage();
    }, WARMUP_MS);
    const createSamples = await drive(CONCURRENCY, t1, create);
    clearTimeout(mark);
    const tEnd = performance.now();
    const cpuUsedMs = cpuMs(controller.pid!) - cpu0;
    const cpuPct = (cpuUsedMs / (tEnd - t0)) * 100;
    const own = process.cpuUsage(own0);
    const loadGenPct = ((own.user + own.system) / 1000 / (tEnd - t0)) * 100;
    const creates = rateOf(createSamples, [201, 202], t0, t1);
    const answered = [...singleSamples, ...createSamples].filter((s) => s.status === 202 || s.status === 201).length;

    // Provisioning keeps up? Tasks that ended in the window per second, and how long the rest took.
    const windowStart = new Date(Date.now() - (performance.now() - t0));
    const windowEnd = new Date(windowStart.getTime() + WINDOW_MS);
    const drain0 = performance.now();
    await drained(180_000);
    const drainS = (performance.now() - drain0) / 1000;
    const provisioned = await db().task.count({
      where: { kind: "vm.create", status: "succeeded", finishedAt: { gte: windowStart, lt: windowEnd } },
    });

    // Reference: a read through the same stack, C clients, after the creates (the table is full).
    t = performance.now();
    const readSamples = await drive(CONCURRENCY, t + REFERENCE_MS, async () => {
      const a = await api.call("GET", "/api/v1/vms", undefined, 60_000);
      return { startMs: performance.now() - a.ms, status: a.status, error: a.status === 200 ? undefined : a.error };
    });
    const reads = rateOf(readSamples, [200], t, performance.now());
    const profiled = await profiledWindow(controller, profDir, create);
    await drained(180_000);
    await sleep(6_000); // one more heartbeat of every host: the agents' VMs are reported and settled
    const checked = await check(fleet);
    return {
      db: provider,
      creates,
      single,
      reads,
      cpuPct,
      cpuMsPerCreate: cpuUsedMs / Math.max(1, creates.ok),
      layersPerCreate: profiled.layers,
      loadGenPct,
      drainS,
      provisionedPerS: (provisioned * 1000) / WINDOW_MS,
      checked,
      answered: answered + profiled.answered,
      fleetErrors: [...fleet.errors].map(([k, n]) => `${n}× ${k}`).slice(0, 4),
    };
  } catch (e) {
    if (controller) console.error(`controller log tail:\n${controller.logTail()}`);
    throw e;
  } finally {
    await fleet?.stop();
    await controller?.stop(); // SIGTERM: --cpu-prof writes its profile
    await resetDbForTests();
    await database.drop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

const ms = (n: number) => (Number.isFinite(n) ? n.toFixed(n >= 100 ? 0 : 1) : "-");

export async function benchCreates(): Promise<void> {
  const missing = missingBuild();
  if (missing) {
    console.log(`\ncreates benchmark: needs the built console (${missing}): skipping`);
    summarize({
      measure: "VM creates through the API, sustained (SQLite)",
      goal: `≥ ${GOAL_PER_S}/s, 0 overcommit`,
      now: "not measured",
      reference: "-",
      ok: null,
      note: missing,
    });
    return;
  }
  const wanted = (process.env.BENCH_CREATES_DBS ?? "sqlite,postgresql").split(",");
  const providers = (["sqlite", "postgresql"] as const).filter(
    (p) => wanted.includes(p) && (p === "sqlite" || testPgUrl()),
  );
  const results: Result[] = [];
  for (const p of providers) {
    const r = await runOne(p);
    if (r) results.push(r);
  }
  printTable(
    `VM creates through the API: ${HOSTS} simulated hosts, ${CONCURRENCY} clients, ${WINDOW_MS / 1000} s window ` +
      `after ${WARMUP_MS / 1000} s warm-up (1 vCPU / 128 MiB / 1 GiB${WITH_NETWORK ? ", one NIC" : ""})`,
    [
      "db",
      "creates/s",
      "p50 ms",
      "p99 ms",
      "errors",
      "1 client/s",
      "1 client p50 ms",
      "GET /vms/s",
      "GET p50 ms",
      "provisioned/s",
      "drain s",
      "controller CPU %",
      "load+fleet CPU %",
    ],
    results.map((r) => [
      r.db,
      r.creates.perSecond.toFixed(1),
      ms(r.creates.p50),
      ms(r.creates.p99),
      String(r.creates.errors),
      r.single.perSecond.toFixed(1),
      ms(r.single.p50),
      r.reads.perSecond.toFixed(1),
      ms(r.reads.p50),
      r.provisionedPerS.toFixed(1),
      r.drainS.toFixed(1),
      r.cpuPct.toFixed(0),
      r.loadGenPct.toFixed(0),
    ]),
  );
  printTable(
    "After the creates (every task ended): allocations against claims and capacity, and what the agents hold",
    [
      "db",
      "VMs",
      "answered 202",
      "VM statuses",
      "create tasks",
      "overcommitted hosts",
      "alloc ≠ claims",
      "agent ≠ db",
      "max CPU use",
    ],
    results.map((r) => [
      r.db,
      String(r.checked.vms),
      String(r.answered),
      JSON.stringify(r.checked.statuses),
      JSON.stringify(r.checked.tasks),
      String(r.checked.overcommitted.length),
      String(r.checked.mismatched.length),
      String(r.checked.agentMismatch),
      `${(r.checked.maxCpuUse * 100).toFixed(0)} %`,
    ]),
  );
  printTable(
    `Where the controller's CPU goes per create (a ${PROFILED_MS / 1000} s profiled window after the measured one; ` +
      "ms of its one JS thread per create answered; 100/s needs ≤ 10 ms in all)",
    ["db", "CPU ms/create (measured window, all threads)", ...LAYERS.map((l) => `${l} ms`)],
    results.map((r) => [
      r.db,
      ms(r.cpuMsPerCreate),
      ...LAYERS.map((l) => (r.layersPerCreate ? ms(r.layersPerCreate[l]) : "-")),
    ]),
  );
  for (const r of results) {
    for (const line of [...r.checked.overcommitted, ...r.checked.mismatched].slice(0, 5))
      console.log(`${r.db}: ${line}`);
    if (r.creates.failures.length) console.log(`${r.db} create errors: ${r.creates.failures.join(" | ")}`);
    if (r.fleetErrors.length) console.log(`${r.db} fleet errors: ${r.fleetErrors.join(" | ")}`);
    const overcommit = r.checked.overcommitted.length + r.checked.mismatched.length;
    const clean =
      overcommit === 0 &&
      r.checked.agentMismatch === 0 &&
      r.checked.vms === r.answered &&
      Object.keys(r.checked.statuses).every((s) => s === "running");
    summarize({
      measure: `VM creates through the API, sustained (${r.db === "sqlite" ? "SQLite" : "PostgreSQL"})`,
      goal: `≥ ${GOAL_PER_S}/s, 0 overcommit`,
      now: `${r.creates.perSecond.toFixed(0)}/s (p50 ${ms(r.creates.p50)} ms, p99 ${ms(r.creates.p99)} ms), overcommit ${overcommit}`,
      reference: `GET /api/v1/vms ${r.reads.perSecond.toFixed(0)}/s; 1 client ${r.single.perSecond.toFixed(0)} creates/s`,
      ok: r.creates.perSecond >= GOAL_PER_S && r.creates.errors === 0 && clean,
      note:
        `${HOSTS} simulated hosts (real agent API, no QEMU), ${CONCURRENCY} clients; controller ${r.cpuPct.toFixed(0)} % ` +
        `of a core, load generator + fleet ${r.loadGenPct.toFixed(0)} %, on ${os.cpus().length} cores` +
        `; ${ms(r.cpuMsPerCreate)} ms of controller CPU per create (100/s needs ≤ 10)` +
        (r.layersPerCreate
          ? `, of which the ORM + SQL driver ${ms(r.layersPerCreate["ORM + SQL driver"])} ms, ` +
            `Next.js ${ms(r.layersPerCreate["Next.js"])}, HTTP/TLS ${ms(r.layersPerCreate["Node HTTP/TLS/streams"])}, ` +
            `GC ${ms(r.layersPerCreate.GC)}, our code ${ms(r.layersPerCreate.Polyarch)}`
          : "") +
        (clean ? "" : "; NOT CLEAN: see the table above"),
    });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await benchCreates();
  const { printSummary } = await import("./summary");
  printSummary();
}
