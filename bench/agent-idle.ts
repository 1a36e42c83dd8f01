// Idle cost of the bundled agent (node dist/agent.mjs) in its own process: VmRSS once settled, and CPU
// time (utime+stime) per heartbeat counted at the controller stub. Knob: BENCH_AGENT_HEARTBEATS (10).
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import fsp from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { BenchController } from "./agent-stub";
import { procTimes, sleep, statusKb, TICK_MS, waitExit } from "./proc";
import { percentile, printTable } from "./table";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const HEARTBEATS = Math.max(2, Number(process.env.BENCH_AGENT_HEARTBEATS ?? 10));
const p50 = (v: number[]) => percentile(v, 50);

async function runNode(args: string[]): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "inherit", "inherit"] });
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`node ${args.join(" ")} exited ${code}`))));
  });
}

export async function benchIdle(): Promise<void> {
  const bundle = path.join(ROOT, "dist", "agent.mjs");
  if (!fs.existsSync(bundle)) await runNode([path.join(ROOT, "scripts", "build-agent.mjs")]);
  const root = await fsp.mkdtemp(path.join(os.tmpdir(), "pa-bench-idle-"));
  const stub = new BenchController(new Map());
  let child: ChildProcess | null = null;
  const rows: (string | number)[][] = [];
  try {
    await stub.start();
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
    const t0 = performance.now();
    // The join token goes by environment, never argv (visible in ps; the agent refuses --join-token).
    const c = spawn(process.execPath, args, {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, POLYARCH_JOIN_TOKEN: stub.joinToken },
    });
    child = c;
    let tail = "";
    const keep = (chunk: Buffer) => (tail = (tail + chunk.toString()).slice(-4000));
    c.stdout!.on("data", keep);
    c.stderr!.on("data", keep);
    const died = new Promise<never>((_, reject) =>
      c.once("exit", (code, sig) =>
        reject(new Error(`agent exited (${code ?? sig}): ${tail.trim().split("\n").slice(-3).join(" | ")}`)),
      ),
    );
    died.catch(() => {});
    const hb = (n: number, ms: number) => Promise.race([stub.waitForHeartbeats(n, ms), died]);
    const pid = c.pid!;

    await hb(1, 30_000);
    const firstMs = performance.now() - t0;
    // Settle: a few idle heartbeats after start-up (JIT, first GCs).
    const SETTLE = 4;
    await hb(SETTLE, 15_000);
    await sleep(500);
    const rssSettled = statusKb(pid, "VmRSS");
    // CPU: sample mid-interval (500 ms after a heartbeat) so exactly N heartbeats lie between.
    const cpu1 = procTimes(pid).cpuMs;
    const w1 = performance.now();
    const k = stub.heartbeats.length;
    await hb(k + HEARTBEATS, HEARTBEATS * 1_000 + 15_000);
    await sleep(500);
    const cpu2 = procTimes(pid).cpuMs;
    const wallMs = performance.now() - w1;
    const rssEnd = statusKb(pid, "VmRSS");
    const hwm = statusKb(pid, "VmHWM");
    const beats = stub.heartbeats.slice(k - 1, k + HEARTBEATS);
    const gaps = beats.slice(1).map((t, i) => t - beats[i]!);

    rows.push(["start -> first heartbeat", `${Math.round(firstMs)} ms`]);
    rows.push([`VmRSS, settled (after ${SETTLE} heartbeats)`, `${(rssSettled / 1024).toFixed(1)} MiB`]);
    rows.push([`VmRSS after ${HEARTBEATS} more heartbeats`, `${(rssEnd / 1024).toFixed(1)} MiB`]);
    rows.push(["VmHWM (peak RSS)", `${(hwm / 1024).toFixed(1)} MiB`]);
    rows.push([
      `CPU per heartbeat (utime+stime over ${HEARTBEATS} beats)`,
      `${((cpu2 - cpu1) / HEARTBEATS).toFixed(1)} ms (±${(TICK_MS / HEARTBEATS).toFixed(1)})`,
    ]);
    rows.push(["idle CPU", `${(((cpu2 - cpu1) / wallMs) * 100).toFixed(2)} % of one core`]);
    rows.push(["heartbeat interval p50 (at the stub)", `${Math.round(p50(gaps))} ms`]);
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      if (!(await waitExit(child, 5_000))) {
        child.kill("SIGKILL");
        await waitExit(child, 5_000);
      }
    }
    await stub.stop();
    await fsp.rm(root, { recursive: true, force: true });
  }
  printTable(
    `Idle agent process (node dist/agent.mjs, no VMs, --heartbeat-ms 1000, kvm off)`,
    ["metric", "value"],
    rows,
  );
}
