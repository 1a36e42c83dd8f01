// Idle cost of the bundled agent (node dist/agent.mjs) in its own process: VmRSS once settled, and CPU
// time (utime+stime) per heartbeat counted at the controller stub. References from the same run: a bare
// `node -e 'setInterval(()=>{},1e3)'` (what Node itself costs) and a minimal heartbeat client (plain
// node:http keep-alive POST of a heartbeat-sized body to the same stub, same interval: the floor of a
// heartbeat in Node). Knob: BENCH_AGENT_HEARTBEATS (10). Run alone: node --import tsx bench/agent-idle.ts
import { spawn, type ChildProcess } from "node:child_process";
import fsp from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { CONTROLLER_AGENT_PREFIX } from "../lib/schemas/agent-api";
import { BenchController } from "./agent-stub";
import { procTimes, sleep, statusKb, TICK_MS, waitExit } from "./proc";
import { summarize } from "./summary";
import { percentile, printTable } from "./table";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const HEARTBEATS = Math.max(2, Number(process.env.BENCH_AGENT_HEARTBEATS ?? 10));
// Settled = after start-up's one-off work: JIT, the first scavenges, and V8's memory reducer, which
// compacts the heap once ~8 s after start (7-15 ms of CPU, and RSS drops by ~6 MiB).
const SETTLE = 10;
const RSS_GOAL_MIB = 60;
const CPU_GOAL_MS = 5;
const p50 = (v: number[]) => percentile(v, 50);
const mib = (kb: number) => `${(kb / 1024).toFixed(1)} MiB`;

// The reference heartbeat client: what any Node process posting a heartbeat each second must spend.
const MINIMAL_CLIENT = `
const http = require("node:http");
const agent = new http.Agent({ keepAlive: true });
const body = JSON.stringify({ usage: { cpuPct: 1, memoryUsedMb: 1, diskUsedGb: 1, loadAvg: [0, 0, 0] }, vms: [] });
const beat = () => {
  const req = http.request(process.env.URL, { method: "POST", agent, headers: {
    authorization: "Bearer " + process.env.TOKEN, "content-type": "application/json", "content-length": Buffer.byteLength(body) } });
  req.on("response", (res) => { let t = ""; res.on("data", (c) => (t += c)); res.on("end", () => JSON.parse(t)); });
  req.on("error", () => {});
  req.end(body);
};
beat();
setInterval(beat, 1000);
`;

async function runNode(args: string[]): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "inherit", "inherit"] });
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`node ${args.join(" ")} exited ${code}`))));
  });
}

interface IdleSample {
  firstMs: number;
  rssSettledKb: number;
  rssEndKb: number;
  hwmKb: number;
  cpuPerBeatMs: number;
  idlePct: number;
  gapP50Ms: number;
}

async function stopChild(child: ChildProcess | null): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  if (!(await waitExit(child, 5_000))) {
    child.kill("SIGKILL");
    await waitExit(child, 5_000);
  }
}

/** Starts `args` (node arguments), waits for its heartbeats at `stub`, and measures RSS and CPU per heartbeat. */
async function measureHeartbeating(stub: BenchController, args: string[], env: Record<string, string>, cwd: string) {
  const t0 = performance.now();
  const c = spawn(process.execPath, args, { cwd, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  try {
    let tail = "";
    const keep = (chunk: Buffer) => (tail = (tail + chunk.toString()).slice(-4000));
    c.stdout!.on("data", keep);
    c.stderr!.on("data", keep);
    const died = new Promise<never>((_, reject) =>
      c.once("exit", (code, sig) =>
        reject(new Error(`process exited (${code ?? sig}): ${tail.trim().split("\n").slice(-3).join(" | ")}`)),
      ),
    );
    died.catch(() => {});
    const hb = (n: number, ms: number) => Promise.race([stub.waitForHeartbeats(n, ms), died]);
    const pid = c.pid!;
    const start = stub.heartbeats.length;

    await hb(start + 1, 30_000);
    const firstMs = performance.now() - t0;
    // Settle: a few idle heartbeats after start-up (JIT, first GCs).
    await hb(start + SETTLE, SETTLE * 1_000 + 15_000);
    await sleep(500);
    const rssSettledKb = statusKb(pid, "VmRSS");
    // CPU: sample mid-interval (500 ms after a heartbeat) so exactly N heartbeats lie between.
    const cpu1 = procTimes(pid).cpuMs;
    const w1 = performance.now();
    const k = stub.heartbeats.length;
    await hb(k + HEARTBEATS, HEARTBEATS * 1_000 + 15_000);
    await sleep(500);
    const cpu2 = procTimes(pid).cpuMs;
    const wallMs = performance.now() - w1;
    const beats = stub.heartbeats.slice(k - 1, k + HEARTBEATS);
    const sample: IdleSample = {
      firstMs,
      rssSettledKb,
      rssEndKb: statusKb(pid, "VmRSS"),
      hwmKb: statusKb(pid, "VmHWM"),
      cpuPerBeatMs: (cpu2 - cpu1) / HEARTBEATS,
      idlePct: ((cpu2 - cpu1) / wallMs) * 100,
      gapP50Ms: p50(beats.slice(1).map((t, i) => t - beats[i]!)),
    };
    return sample;
  } finally {
    await stopChild(c);
  }
}

/** The floor: VmRSS of a bare Node with one 1 s timer, after the same settle time as the agent. */
async function bareNodeRssKb(): Promise<number> {
  const c = spawn(process.execPath, ["-e", "setInterval(() => {}, 1e3)"], { stdio: "ignore" });
  try {
    await sleep(SETTLE * 1000 + 500);
    return statusKb(c.pid!, "VmRSS");
  } finally {
    await stopChild(c);
  }
}

export async function benchIdle(): Promise<void> {
  const root = await fsp.mkdtemp(path.join(os.tmpdir(), "pa-bench-idle-"));
  // A fresh build of the current sources (dist/agent.mjs may be older), unless one is named.
  let bundle = process.env.BENCH_AGENT_BUNDLE;
  if (!bundle) {
    bundle = path.join(root, "agent.mjs");
    await runNode([path.join(ROOT, "scripts", "build-agent.mjs"), "--outfile", bundle]);
  }
  const stub = new BenchController(new Map());
  let agent: IdleSample;
  let minimal: IdleSample;
  let bareKb: number;
  try {
    await stub.start();
    bareKb = await bareNodeRssKb();
    minimal = await measureHeartbeating(
      stub,
      ["-e", MINIMAL_CLIENT],
      { URL: `${stub.url}${CONTROLLER_AGENT_PREFIX}/heartbeat`, TOKEN: stub.hostToken },
      root,
    );
    const args = [
      bundle,
      "--controller",
      stub.url,
      "--insecure-http",
      "--kvm",
      "off",
      "--state-dir",
      path.join(root, "state"),
      "--listen",
      "127.0.0.1:0",
      "--heartbeat-ms",
      "1000",
      "--ovs-db",
      `unix:${path.join(root, "no-ovs.sock")}`,
    ];
    // The join token goes by environment, never argv (visible in ps; the agent refuses --join-token).
    agent = await measureHeartbeating(stub, args, { POLYARCH_JOIN_TOKEN: stub.joinToken }, root);
  } finally {
    await stub.stop();
    await fsp.rm(root, { recursive: true, force: true });
  }
  const tick = `±${(TICK_MS / HEARTBEATS).toFixed(1)}`;
  const rows = (s: IdleSample) => [
    `${Math.round(s.firstMs)} ms`,
    mib(s.rssSettledKb),
    mib(s.rssEndKb),
    mib(s.hwmKb),
    `${s.cpuPerBeatMs.toFixed(1)} ms (${tick})`,
    `${s.idlePct.toFixed(2)} %`,
    `${Math.round(s.gapP50Ms)} ms`,
  ];
  const a = rows(agent);
  const m = rows(minimal);
  printTable(
    `Idle agent process (node agent.mjs built now, no VMs, --heartbeat-ms 1000, kvm off) vs a minimal heartbeat client`,
    ["metric", "agent", "minimal client", "bare node"],
    [
      ["start -> first heartbeat", a[0]!, m[0]!, "-"],
      [`VmRSS, settled (after ${SETTLE} heartbeats)`, a[1]!, m[1]!, mib(bareKb)],
      [`VmRSS after ${HEARTBEATS} more heartbeats`, a[2]!, m[2]!, "-"],
      ["VmHWM (peak RSS)", a[3]!, m[3]!, "-"],
      [`CPU per heartbeat (utime+stime over ${HEARTBEATS} beats)`, a[4]!, m[4]!, "-"],
      ["idle CPU (% of one core)", a[5]!, m[5]!, "-"],
      ["heartbeat interval p50 (at the stub)", a[6]!, m[6]!, "-"],
    ],
  );
  const rss = Math.max(agent.rssSettledKb, agent.rssEndKb);
  summarize({
    measure: "idle agent RSS (settled)",
    goal: `≤ ${RSS_GOAL_MIB} MiB`,
    now: `${mib(agent.rssSettledKb)} (after ${HEARTBEATS} more beats: ${mib(agent.rssEndKb)})`,
    reference: `bare node ${mib(bareKb)}; minimal heartbeat client ${mib(minimal.rssSettledKb)}`,
    ok: rss <= RSS_GOAL_MIB * 1024,
  });
  summarize({
    measure: "agent CPU per heartbeat",
    goal: `≤ ${CPU_GOAL_MS} ms`,
    now: `${agent.cpuPerBeatMs.toFixed(1)} ms (${tick}, ${HEARTBEATS} beats at 1 s)`,
    reference: `minimal heartbeat client ${minimal.cpuPerBeatMs.toFixed(1)} ms`,
    ok: agent.cpuPerBeatMs <= CPU_GOAL_MS,
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { printSummary } = await import("./summary");
  await benchIdle();
  printSummary();
}
