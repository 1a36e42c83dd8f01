// Node agent benchmarks (register in bench/run.ts as `agent: benchAgent`).
//
// 1. VM start latency: PUT /v1/vms/:id through the agent's real HTTP API + VmManager + QEMU (TCG,
//    kvm off) until QMP reports `running`, versus spawning the very argv the agent used (its
//    qemu.argv.json, with fresh socket/pidfile/log/disk paths) by hand and polling QMP
//    query-status with the agent's own QmpClient. Kernel-boot fixtures from .cache/fixtures/<arch>/,
//    1 vCPU, 256 MiB; images are cached by one warm-up PUT per arch, so downloads do not count.
//    Time to the fixture's boot marker on the serial log is reported for context.
// 2. Idle cost of the bundled agent: bench/agent-idle.ts.
//
// Everything runs on 127.0.0.1 and under a temp dir; every QEMU and agent started here is killed
// in `finally`. Knobs: BENCH_AGENT_RUNS (15), BENCH_AGENT_MARKER_RUNS (3).
import { spawn, type ChildProcess } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ARCHES, type Arch } from "../lib/arch";
import { startAgent, type RunningAgent } from "../agent/src/agent";
import { parseConfig } from "../agent/src/config";
import { silentLogger } from "../agent/src/util";
import { createQcow2, QmpClient } from "../agent/src/qemu";
import { BenchController } from "./agent-stub";
import { summarize } from "./summary";
import { percentile, printTable } from "./table";
import { killIfOurs, procTimes, sleep, uptimeMs, waitExit } from "./proc";
import { benchIdle } from "./agent-idle";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
// 15 pairs: QEMU's own start under TCG wanders by ±30 % from one minute to the next on this shared
// 2-core machine (p50 of the hand side 185–232 ms across runs of the same code), more than the 10 % goal.
// The goal's ratio is therefore paired: each run's agent start against the hand start run next to it
// (ABBA order), overhead = p50 of those differences; the unpaired p50/p50 ratio is shown beside it.
const RUNS = Math.max(1, Number(process.env.BENCH_AGENT_RUNS ?? 15));
// Booting to the marker takes seconds under TCG per run and side: a few runs keep the total short.
const MARKER_RUNS = Math.min(RUNS, Math.max(0, Number(process.env.BENCH_AGENT_MARKER_RUNS ?? 3)));
const MEMORY_MB = 256;
const DISK_GB = 1;
const RUNNING_TIMEOUT_MS = 30_000;
const MARKER_TIMEOUT_MS = 90_000;

interface Fixture {
  arch: Arch;
  kernel: string;
  initrd?: string;
  cmdline: string;
  marker: string;
  kernelSha256: string;
  initrdSha256?: string;
}

function sha256(file: string): string {
  return crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

/** .cache/fixtures/<arch>/manifest.json (or POLYARCH_FIXTURES_DIR), as the agent tests read it. */
function loadFixture(arch: Arch): Fixture | null {
  const base = process.env.POLYARCH_FIXTURES_DIR ?? path.join(ROOT, ".cache/fixtures");
  const dir = path.join(base, arch);
  const mPath = path.join(dir, "manifest.json");
  if (!fs.existsSync(mPath)) return null;
  const m = JSON.parse(fs.readFileSync(mPath, "utf8")) as {
    kernel?: string;
    initrd?: string;
    marker?: string;
    cmdline?: string;
    sha256?: Record<string, string>;
  };
  const kernel = path.resolve(dir, m.kernel ?? "vmlinuz");
  const initrd = m.initrd ? path.resolve(dir, m.initrd) : undefined;
  if (!fs.existsSync(kernel) || !m.marker) return null;
  const hasInitrd = initrd !== undefined && fs.existsSync(initrd);
  return {
    arch,
    kernel,
    initrd: hasInitrd ? initrd : undefined,
    cmdline: m.cmdline ?? "",
    marker: m.marker,
    kernelSha256: m.sha256?.[path.basename(kernel)] ?? sha256(kernel),
    initrdSha256: hasInitrd ? (m.sha256?.[path.basename(initrd!)] ?? sha256(initrd!)) : undefined,
  };
}

/** Polls a serial log until it contains `marker`; ms since t0. */
async function waitForMarker(file: string, marker: string, t0: number): Promise<number> {
  const deadline = t0 + MARKER_TIMEOUT_MS;
  for (;;) {
    try {
      if (fs.readFileSync(file, "latin1").includes(marker)) return performance.now() - t0;
    } catch {
      /* not there yet */
    }
    if (performance.now() > deadline) throw new Error(`no "${marker}" in ${file} within ${MARKER_TIMEOUT_MS} ms`);
    await sleep(20);
  }
}

const p50 = (v: number[]) => percentile(v, 50);
const fmtMs = (v: number[]) => (v.length ? p50(v) : NaN);
/** whole ms as a string (printTable would print small numbers with 2 decimals) */
const ms0 = (n: number) => (Number.isFinite(n) ? String(Math.round(n)) : "-");

// ---------------------------------------------------------------------------------------------
// 1. PUT -> running vs. the same argv by hand

interface AgentRun {
  putMs: number;
  runningMs: number;
  /** PUT -> manager starts QEMU launch (validation, image cache, qcow2 overlay, state files done) */
  preStartMs: number | null;
  /** PUT -> QEMU process start time (from /proc, 10 ms ticks) */
  execMs: number | null;
  markerMs: number | null;
  argv: string[];
}

interface HandRun {
  runningMs: number;
  markerMs: number | null;
}

async function benchStartLatency(fixtures: Fixture[]): Promise<void> {
  const root = await fsp.mkdtemp(path.join(os.tmpdir(), "pa-bench-agent-"));
  const files = new Map<string, string>();
  for (const fx of fixtures) {
    files.set(`bench-${fx.arch}/kernel`, fx.kernel);
    if (fx.initrd) files.set(`bench-${fx.arch}/initrd`, fx.initrd);
  }
  const stub = new BenchController(files);
  let agent: RunningAgent | null = null;
  const agentPids = new Set<number>();
  const liveVms = new Set<string>();
  const handChildren = new Set<ChildProcess>();
  let token = "";

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const api = async (method: string, p: string, body?: unknown): Promise<{ status: number; body: any }> => {
    const res = await fetch(`http://127.0.0.1:${agent!.port}${p}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };

  const specFor = (fx: Fixture) => ({
    name: `bench-${fx.arch === "x86_64" ? "x86" : "a64"}`,
    arch: fx.arch,
    vcpus: 1,
    memoryMb: MEMORY_MB,
    diskGb: DISK_GB,
    boot: {
      type: "kernel",
      imageId: `bench-${fx.arch}`,
      kernelSha256: fx.kernelSha256,
      ...(fx.initrdSha256 ? { initrdSha256: fx.initrdSha256 } : {}),
      cmdline: fx.cmdline,
    },
    nics: [],
  });

  const deleteVm = async (id: string) => {
    const d = await api("DELETE", `/v1/vms/${id}`);
    if (d.status !== 200) throw new Error(`DELETE ${id}: ${d.status} ${JSON.stringify(d.body)}`);
    liveVms.delete(id);
  };

  const agentRun = async (fx: Fixture, id: string, withMarker: boolean): Promise<AgentRun> => {
    let preStartAt: number | null = null;
    const onChange = (ev: { id: string }) => {
      if (ev.id === id && preStartAt === null) preStartAt = performance.now();
    };
    const spec = specFor(fx);
    const up0 = uptimeMs();
    const t0 = performance.now();
    // create() emits its first "change" from start(), after overlay + state files are written
    agent!.manager.on("change", onChange);
    liveVms.add(id);
    let r;
    try {
      r = await api("PUT", `/v1/vms/${id}`, spec);
    } finally {
      agent!.manager.off("change", onChange);
    }
    const putMs = performance.now() - t0;
    if (r.status !== 201) throw new Error(`PUT ${id}: ${r.status} ${JSON.stringify(r.body)}`);
    if (typeof r.body.pid === "number") agentPids.add(r.body.pid);
    let runningMs = r.body.qmpStatus === "running" ? putMs : null;
    while (runningMs === null) {
      if (performance.now() - t0 > RUNNING_TIMEOUT_MS)
        throw new Error(`VM ${id} not running after ${RUNNING_TIMEOUT_MS} ms`);
      const g = await api("GET", `/v1/vms/${id}`);
      if (g.body?.qmpStatus === "running") runningMs = performance.now() - t0;
      else await sleep(5);
    }
    let execMs: number | null = null;
    try {
      execMs = procTimes(r.body.pid).startMs - up0;
    } catch {
      /* gone already */
    }
    const markerMs = withMarker ? await waitForMarker(r.body.serialLog, fx.marker, t0) : null;
    const argv = JSON.parse(
      await fsp.readFile(path.join(path.dirname(r.body.serialLog), "qemu.argv.json"), "utf8"),
    ) as string[];
    await deleteVm(id);
    return { putMs, runningMs, preStartMs: preStartAt === null ? null : preStartAt - t0, execMs, markerMs, argv };
  };

  /** The agent's argv with every path under its VM/socket dirs moved to `dir`. */
  const relocate = (argv: string[], fromDirs: string[], dir: string) =>
    argv.map((a) => fromDirs.reduce((s, from) => s.split(from + "/").join(dir + "/"), a));

  const handRun = async (
    fx: Fixture,
    template: string[],
    fromDirs: string[],
    dir: string,
    withMarker: boolean,
  ): Promise<HandRun> => {
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
    const argv = relocate(template, fromDirs, dir);
    if (argv.some((a) => fromDirs.some((d) => a.includes(d))))
      throw new Error("could not relocate every agent path in the argv");
    // The agent's fresh overlay is a blank qcow2 of diskGb: same here, but outside the timing.
    await createQcow2(path.join(dir, "disk.qcow2"), { sizeGb: DISK_GB });
    const qmpPath = path.join(dir, "qmp.sock");
    const serialLog = path.join(dir, "serial.log");
    const logFd = fs.openSync(path.join(dir, "qemu.log"), "a", 0o600);
    const t0 = performance.now();
    let child: ChildProcess;
    try {
      child = spawn(argv[0]!, argv.slice(1), { cwd: dir, detached: true, stdio: ["ignore", logFd, logFd] });
    } finally {
      fs.closeSync(logFd);
    }
    handChildren.add(child);
    let spawnError: Error | null = null;
    child.on("error", (e) => (spawnError = e));
    let qmp: QmpClient | null = null;
    try {
      while (!qmp) {
        if (spawnError) throw spawnError;
        if (child.exitCode !== null || child.signalCode !== null) {
          const log = await fsp.readFile(path.join(dir, "qemu.log"), "utf8").catch(() => "");
          throw new Error(
            `hand-started QEMU exited (${child.exitCode ?? child.signalCode}): ${log.trim().split("\n").slice(-3).join(" | ")}`,
          );
        }
        if (performance.now() - t0 > RUNNING_TIMEOUT_MS) throw new Error("hand-started QEMU: no QMP");
        if (fs.existsSync(qmpPath)) {
          try {
            qmp = await QmpClient.connect(qmpPath, { connectTimeoutMs: 5_000 });
          } catch {
            /* not listening yet */
          }
        }
        if (!qmp) await sleep(5);
      }
      while ((await qmp.queryStatus({ timeoutMs: 5_000 })).status !== "running") {
        if (performance.now() - t0 > RUNNING_TIMEOUT_MS) throw new Error("hand-started QEMU: not running");
        await sleep(5);
      }
      const runningMs = performance.now() - t0;
      const markerMs = withMarker ? await waitForMarker(serialLog, fx.marker, t0) : null;
      return { runningMs, markerMs };
    } finally {
      if (qmp) await qmp.quit({ timeoutMs: 3_000 }).catch(() => {});
      if (!(await waitExit(child, 5_000))) {
        child.kill("SIGKILL");
        await waitExit(child, 5_000);
      }
      if (child.exitCode !== null || child.signalCode !== null) handChildren.delete(child);
      await fsp.rm(dir, { recursive: true, force: true });
    }
  };

  const summary: (string | number)[][] = [];
  const markers: (string | number)[][] = [];
  const breakdown: (string | number)[][] = [];
  try {
    await stub.start();
    const cfg = parseConfig(
      [
        "--controller",
        stub.url,
        "--insecure-http",
        "--listen",
        "127.0.0.1:0",
        "--state-dir",
        path.join(root, "state"),
        "--kvm",
        "off",
        "--machine-id",
        `bench-${crypto.randomBytes(3).toString("hex")}`,
        "--heartbeat-ms",
        "10000",
        // never touch a system Open vSwitch: these VMs have no NICs
        "--ovs-db",
        `unix:${path.join(root, "no-ovs.sock")}`,
      ],
      { POLYARCH_JOIN_TOKEN: stub.joinToken },
    );
    if (cfg === "help") throw new Error("unexpected --help");
    agent = await startAgent(cfg, silentLogger);
    await stub.waitForHeartbeats(1, 15_000);
    token = stub.hostToken;

    for (const fx of fixtures) {
      const id = `bench-${fx.arch.replace("_", "-")}`;
      // Warm-up: downloads the kernel/initrd into the image cache; gives the argv template.
      const warm = await agentRun(fx, id, false);
      const downloads = stub.imageRequests.length;
      const template = warm.argv;
      const vmDir = path.join(cfg.stateDir, "vms", id);
      const qmpArg = template.find((a) => a.startsWith("socket,id=qmp,path="));
      const sockDir = qmpArg ? path.dirname(/path=((?:[^,]|,,)*)/.exec(qmpArg)![1]!.replace(/,,/g, ",")) : vmDir;
      const fromDirs = [...new Set([vmDir, sockDir])];

      const agentRuns: AgentRun[] = [];
      const handRuns: HandRun[] = [];
      let sameArgv = true;
      for (let i = 0; i < RUNS; i++) {
        const withMarker = i < MARKER_RUNS;
        // alternate the order so neither side always runs on a just-vacated CPU/page cache
        const doAgent = async () => {
          const a = await agentRun(fx, id, withMarker);
          if (JSON.stringify(a.argv) !== JSON.stringify(template)) sameArgv = false;
          agentRuns.push(a);
        };
        const doHand = async () =>
          handRuns.push(await handRun(fx, template, fromDirs, path.join(root, "h", `${fx.arch}-${i}`), withMarker));
        if (i % 2 === 0) {
          await doAgent();
          await doHand();
        } else {
          await doHand();
          await doAgent();
        }
      }
      if (stub.imageRequests.length !== downloads) throw new Error("images were downloaded again after the warm-up");

      const a = agentRuns.map((r) => r.runningMs);
      const h = handRuns.map((r) => r.runningMs);
      // Run i's agent and hand starts ran back to back: their difference cancels the machine's drift.
      const overhead = p50(a.map((v, i) => v - h[i]!));
      const ratio = (p50(h) + overhead) / p50(h);
      const unpaired = p50(a) / p50(h);
      summary.push([
        fx.arch,
        ms0(p50(a)),
        `${ms0(Math.min(...a))}–${ms0(Math.max(...a))}`,
        ms0(p50(h)),
        `${ms0(Math.min(...h))}–${ms0(Math.max(...h))}`,
        ratio,
        unpaired,
        `${ratio <= 1.1 ? "✓" : "✗"} ${ratio >= 1 ? "+" : ""}${((ratio - 1) * 100).toFixed(0)}%`,
        ms0(overhead),
        sameArgv ? "yes" : "NO",
      ]);
      const pre = agentRuns.map((r) => r.preStartMs).filter((v): v is number => v !== null);
      const exec = agentRuns.map((r) => r.execMs).filter((v): v is number => v !== null);
      breakdown.push([
        fx.arch,
        ms0(fmtMs(pre)),
        ms0(fmtMs(exec)),
        ms0(p50(a) - fmtMs(exec)),
        ms0(p50(h)),
        ms0(p50(agentRuns.map((r) => r.putMs))),
        ms0(warm.runningMs),
      ]);
      const preExec = fmtMs(exec);
      summarize({
        measure: `agent PUT → QMP running vs the same argv spawned by hand, ${fx.arch}`,
        goal: "≤ 1.10×",
        now: `${ratio.toFixed(2)}× (agent p50 ${ms0(p50(a))} ms)`,
        reference: `hand p50 ${ms0(p50(h))} ms; unpaired p50/p50 ${unpaired.toFixed(2)}×`,
        ok: ratio <= 1.1 && sameArgv,
        note:
          (sameArgv ? "" : "the agent's argv changed between runs; ") +
          (ratio <= 1.1
            ? ""
            : `fixed agent cost ${ms0(overhead)} ms (paired) vs a 10 % budget of ${ms0(p50(h) / 10)} ms: PUT → launch ` +
              `${ms0(fmtMs(pre))} ms (HTTP, validation, cache, overlay, state), QEMU exec'd at ${ms0(preExec)} ms ` +
              `(/proc, ±10 ms); exec → running ${ms0(p50(a) - preExec)} ms (agent) vs ${ms0(p50(h))} ms (hand); ${RUNS} runs`),
      });
      const am = agentRuns.map((r) => r.markerMs).filter((v): v is number => v !== null);
      const hm = handRuns.map((r) => r.markerMs).filter((v): v is number => v !== null);
      if (am.length && hm.length)
        markers.push([fx.arch, fx.marker, ms0(p50(am)), ms0(p50(hm)), p50(am) / p50(hm), String(am.length)]);
    }
  } finally {
    for (const id of liveVms) await (agent ? api("DELETE", `/v1/vms/${id}`).catch(() => {}) : Promise.resolve());
    await agent?.stop().catch(() => {});
    for (const pid of agentPids) killIfOurs(pid, root);
    for (const child of handChildren) {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await waitExit(child, 5_000);
    }
    await stub.stop();
    await fsp.rm(root, { recursive: true, force: true });
    // A long state dir would have put sockets under <tmp>/polyarch-<uid>/<hash>: not the case
    // for this short temp path (checked by relocate() finding every path under vmDir).
  }

  printTable(
    `Agent PUT /v1/vms/:id -> QMP "running" vs. the same QEMU argv spawned by hand ` +
      `(TCG, kvm off, 1 vCPU, ${MEMORY_MB} MiB, kernel boot, image cached; ${RUNS} runs each, ABBA pairs; ms)`,
    [
      "arch",
      "agent p50",
      "agent min–max",
      "hand p50",
      "hand min–max",
      "agent/hand (paired)",
      "p50/p50 (unpaired)",
      "goal <10%",
      "overhead ms (p50 of pair differences)",
      "argv same every run",
    ],
    summary,
  );
  printTable(
    "Where the agent's time goes (p50 ms from the PUT; QEMU exec time from /proc starttime, ±10 ms)",
    [
      "arch",
      "pre-start (validate, cache, overlay, state)",
      "QEMU exec'd at",
      "exec -> running (agent)",
      "spawn -> running (hand)",
      "PUT response",
      "warm-up PUT incl. download",
    ],
    breakdown,
  );
  if (markers.length) {
    printTable(
      `Boot marker on the serial log, for context (from PUT / from spawn; ${MARKER_RUNS} runs; ms)`,
      ["arch", "marker", "agent p50", "hand p50", "agent/hand", "runs"],
      markers,
    );
  }
}

export async function benchAgent(): Promise<void> {
  const fixtures = ARCHES.map(loadFixture).filter((f): f is Fixture => f !== null);
  if (fixtures.length === 0) {
    console.log(
      "\nagent benchmark: no boot fixtures in .cache/fixtures/{x86_64,aarch64}: skipping the start-latency part",
    );
  } else {
    await benchStartLatency(fixtures);
  }
  await benchIdle();
}
