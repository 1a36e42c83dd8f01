// The fence watchdog (ADR 036) as it runs in production: the bundled agent's `fence-watchdog`
// subcommand in its own process, real QEMUs (paused with -S: no guest needs to boot) in a state
// dir laid out like the VM manager's. An armed lease that is renewed keeps every VM; when renewals
// stop (a test that stops renewing, and a real agent that is SIGSTOPped) the fenced VM is killed
// within lease + 1 s and the unfenced one survives; no lease kills nothing. No process is left.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { qemuBinaryFor } from "../../../lib/arch";
import { vmSpecSchema } from "../../../lib/schemas/agent-api";
import { startAgent } from "../agent";
import { parseConfig } from "../config";
import { silentLogger } from "../util";
import { listenOnLoopback, stopServer, until } from "../testing/support";
// zombie-aware: a watchdog whose agent exited is reaped by a pid 1 that may take its time
import { alive, hostArch } from "../testing/vm-rig";
import { LeaseKeeper, leaseFileOf, monotonicMs, type Lease } from "./lease";
import { ensureWatchdog, findWatchdog, stopWatchdog, waitForWatchdog } from "./supervisor";
import type { FenceRecord } from "./watchdog";

const repo = path.resolve(__dirname, "../../..");
const qemuBin = qemuBinaryFor(hostArch);
let root = "";
let bundle = "";
const stateDirs: string[] = [];
const qemus: ChildProcess[] = [];
let agent: ChildProcess | null = null;

function newStateDir(name: string): string {
  const dir = path.join(root, name);
  fs.mkdirSync(path.join(dir, "vms"), { recursive: true });
  stateDirs.push(dir);
  return dir;
}

/** A paused QEMU for VM `id` in `stateDir`, with spec.json and qemu.pid where the manager keeps them. */
async function startVm(stateDir: string, id: string, fence: boolean): Promise<number> {
  const dir = path.join(stateDir, "vms", id);
  fs.mkdirSync(dir, { recursive: true });
  const spec = vmSpecSchema.parse({
    name: id,
    arch: hostArch,
    vcpus: 1,
    memoryMb: 64,
    diskGb: 1,
    boot: { type: "kernel", imageId: "none" },
    fence,
  });
  fs.writeFileSync(path.join(dir, "spec.json"), JSON.stringify(spec));
  const pidFile = path.join(dir, "qemu.pid");
  const machine = hostArch === "x86_64" ? "q35" : "virt";
  const child = spawn(
    qemuBin,
    ["-S", "-nodefaults", "-display", "none", "-machine", machine, "-accel", "tcg", "-m", "64", "-pidfile", pidFile],
    { stdio: "ignore" },
  );
  qemus.push(child);
  await until(() => fs.existsSync(pidFile) && fs.readFileSync(pidFile, "utf8").trim(), `${id}'s pidfile`);
  return child.pid!;
}

function fencedRecord(stateDir: string): FenceRecord | null {
  const file = path.join(stateDir, "fence", "fenced.json");
  return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, "utf8")) as FenceRecord) : null;
}

/** Controller stand-in on loopback: registers anyone, answers heartbeats with a 2 s lease. */
function stubController(): { server: http.Server; beats: number[] } {
  const beats: number[] = [];
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.setHeader("content-type", "application/json");
      if (req.url === "/api/agent/v1/register")
        return void res.end(JSON.stringify({ hostId: "h-fence", hostToken: "t".repeat(32), heartbeatIntervalMs: 300 }));
      if (req.url === "/api/agent/v1/heartbeat") {
        beats.push(monotonicMs());
        return void res.end(JSON.stringify({ ok: true, heartbeatIntervalMs: 300, fenceAfterMs: 2000 }));
      }
      res.writeHead(404).end("{}");
    });
  });
  return { server, beats };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "pa-fence-"));
  bundle = path.join(root, "agent.mjs");
  execFileSync(process.execPath, [path.join(repo, "scripts/build-agent.mjs"), "--outfile", bundle], { stdio: "pipe" });
}, 120_000);

afterAll(async () => {
  if (agent?.pid && alive(agent.pid)) {
    agent.kill("SIGCONT");
    agent.kill("SIGKILL");
  }
  for (const q of qemus) if (q.exitCode === null && q.signalCode === null) q.kill("SIGKILL");
  const watchdogs = stateDirs.map((d) => findWatchdog(d)).filter((p): p is number => p !== null);
  for (const d of stateDirs) await stopWatchdog(d);
  fs.rmSync(root, { recursive: true, force: true });
  await until(() => watchdogs.every((p) => !alive(p)), "every watchdog to exit", 10_000);
}, 60_000);

describe.skipIf(!fs.existsSync(`/usr/bin/${qemuBin}`))("fence watchdog", () => {
  it("no lease: the watchdog runs but kills nothing", async () => {
    const dir = newStateDir("unarmed");
    const fenced = await startVm(dir, "ha-1", true);
    const { started } = ensureWatchdog({ stateDir: dir, nodeCommand: [process.execPath], entry: bundle });
    expect(started).toBe(true);
    const pid = await waitForWatchdog(dir);
    expect(pid).not.toBeNull();
    // a second start finds the running one
    expect(ensureWatchdog({ stateDir: dir, nodeCommand: [process.execPath], entry: bundle })).toEqual({
      pid,
      started: false,
    });
    await sleep(1500); // several polls
    expect(alive(fenced)).toBe(true);
    expect(fencedRecord(dir)).toBeNull();
  });

  it("renewed lease keeps every VM; once renewals stop the fenced VM dies within lease + 1 s, the other lives", async () => {
    const dir = newStateDir("armed");
    const fenced = await startVm(dir, "ha-1", true);
    const plain = await startVm(dir, "plain-1", false);
    ensureWatchdog({ stateDir: dir, nodeCommand: [process.execPath], entry: bundle });
    expect(await waitForWatchdog(dir)).not.toBeNull();
    const keeper = new LeaseKeeper(dir);
    const leaseMs = 1500;
    // renew every 300 ms for twice the lease: without the renewals the fenced VM would be dead
    for (const end = monotonicMs() + 2 * leaseMs; monotonicMs() < end; await sleep(300))
      await keeper.renew(monotonicMs(), leaseMs);
    expect([alive(fenced), alive(plain)]).toEqual([true, true]);
    expect(fencedRecord(dir)).toBeNull();

    // the agent stops renewing
    const deadline = (JSON.parse(fs.readFileSync(leaseFileOf(dir), "utf8")) as Lease).deadlineMonoMs;
    await until(() => !alive(fenced), "the fenced VM to be killed", 15_000, 20);
    const seenLateMs = monotonicMs() - deadline;
    // the record is written just after the kill (slowly under qemu-user): wait for it
    const record = await until(() => fencedRecord(dir), "the fence record", 10_000);
    expect(record?.vms).toEqual([{ id: "ha-1", pid: fenced }]);
    expect(record?.reason).toBe("lease not renewed in time");
    console.log(
      `[fence] killed ${record?.lateMs} ms after the deadline (seen by the test after ${Math.round(seenLateMs)} ms)`,
    );
    expect(record!.lateMs).toBeLessThan(1000);
    await sleep(1000);
    expect(alive(plain)).toBe(true);
  });

  it("a real agent that is SIGSTOPped: its watchdog fences the HA VM; the agent's exit leaves the watchdog running", async () => {
    const dir = newStateDir("agent");
    const { server, beats } = stubController();
    const url = await listenOnLoopback(server);
    try {
      agent = spawn(
        process.execPath,
        [
          bundle,
          ...["--controller", url, "--insecure-http", "--listen", "127.0.0.1:0", "--state-dir", dir],
          ...["--kvm", "off", "--machine-id", "fence-test", "--ovs-db", `unix:${path.join(root, "no-ovs.sock")}`],
        ],
        { stdio: "ignore", env: { ...process.env, POLYARCH_JOIN_TOKEN: "join-token-0123456789abcdef" } },
      );
      const watchdog = await until(() => findWatchdog(dir), "the agent's watchdog", 60_000);
      await until(() => fs.existsSync(leaseFileOf(dir)), "the agent's first lease", 30_000);
      const fenced = await startVm(dir, "ha-1", true);
      const plain = await startVm(dir, "plain-1", false);
      await sleep(2500); // longer than the lease: the agent's renewals keep the VM
      expect([alive(fenced), alive(plain)]).toEqual([true, true]);

      agent.kill("SIGSTOP");
      const stoppedAt = monotonicMs();
      await until(() => !alive(fenced), "the fenced VM to be killed", 15_000, 20);
      // the record is written just after the kill (slowly under qemu-user): wait for it
      const record = await until(() => fencedRecord(dir), "the fence record", 10_000);
      expect(record?.vms).toEqual([{ id: "ha-1", pid: fenced }]);
      const lastBeat = beats.filter((b) => b <= stoppedAt).at(-1)!;
      console.log(
        `[fence] agent stopped: last heartbeat answered ${Math.round(stoppedAt - lastBeat)} ms before SIGSTOP, ` +
          `VM killed ${record?.lateMs} ms after the lease's deadline`,
      );
      expect(record!.lateMs).toBeLessThan(1000);
      expect(alive(plain)).toBe(true);

      agent.kill("SIGCONT");
      agent.kill("SIGTERM");
      await until(() => agent!.exitCode !== null || agent!.signalCode !== null, "the agent to exit", 20_000);
      // a stopped agent is no reason to stop fencing
      expect(findWatchdog(dir)).toBe(watchdog);
      expect(await stopWatchdog(dir)).toBe(true);
      expect(alive(watchdog)).toBe(false);
    } finally {
      await stopServer(server);
    }
  });

  // The fleet runs the aarch64 agent's Node under qemu-user (--node-command with its prefix).
  const arm64Node = path.join(repo, ".cache/arm64-node/package/bin/node");
  const qemuUser = ["/usr/bin/qemu-aarch64-static", "/usr/bin/qemu-aarch64"].find((p) => fs.existsSync(p));
  it.skipIf(hostArch !== "x86_64" || !qemuUser || !fs.existsSync(arm64Node))(
    "under qemu-user (the aarch64 agent's Node): recognised by its cmdline, same monotonic clock, fences",
    async () => {
      const dir = newStateDir("qemu-user");
      const prefix = execFileSync("bash", [path.join(repo, "scripts/fleet/arm64-node.sh"), "--lines"], {
        encoding: "utf8",
      })
        .trim()
        .split("\n");
      const fenced = await startVm(dir, "ha-1", true);
      ensureWatchdog({ stateDir: dir, nodeCommand: prefix, entry: bundle });
      const pid = await waitForWatchdog(dir, 60_000);
      expect(pid).not.toBeNull();
      expect(fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0]).toBe(prefix[0]);
      // a lease written by this (x86_64) process is judged by the emulated one: one CLOCK_MONOTONIC
      const keeper = new LeaseKeeper(dir);
      for (const end = monotonicMs() + 3000; monotonicMs() < end; await sleep(300))
        await keeper.renew(monotonicMs(), 1500);
      expect(alive(fenced)).toBe(true);
      await until(() => !alive(fenced), "the fenced VM to be killed", 15_000, 20);
      // the record is written just after the kill (slowly under qemu-user): wait for it
      const record = await until(() => fencedRecord(dir), "the fence record", 10_000);
      console.log(`[fence] qemu-user watchdog killed ${record?.lateMs} ms after the deadline`);
      expect(record!.lateMs).toBeLessThan(1000);
      expect(await stopWatchdog(dir)).toBe(true);
    },
    90_000,
  );

  it("in-process agent (tests): startAgent starts the watchdog, stop() with stopWatchdogOnStop leaves none", async () => {
    const dir = newStateDir("in-process");
    const { server } = stubController();
    const url = await listenOnLoopback(server);
    try {
      const cfg = parseConfig(
        [
          ...["--controller", url, "--insecure-http", "--listen", "127.0.0.1:0", "--state-dir", dir, "--kvm", "off"],
          ...["--machine-id", "fence-inproc", "--ovs-db", `unix:${path.join(root, "no-ovs.sock")}`],
        ],
        { POLYARCH_JOIN_TOKEN: "join-token-0123456789abcdef" },
      );
      if (cfg === "help") throw new Error("unexpected help");
      const running = await startAgent(cfg, silentLogger, { watchdogEntry: bundle, stopWatchdogOnStop: true });
      const pid = await running.watchdog;
      expect(pid).not.toBeNull();
      expect(findWatchdog(dir)).toBe(pid);
      await until(() => fs.existsSync(leaseFileOf(dir)), "the first lease", 30_000);
      await running.stop();
      expect(alive(pid!)).toBe(false);
      expect(findWatchdog(dir)).toBeNull();
    } finally {
      await stopServer(server);
    }
  });

  it("the watchdog exits when its state dir is removed", async () => {
    const dir = newStateDir("removed");
    ensureWatchdog({ stateDir: dir, nodeCommand: [process.execPath], entry: bundle });
    const pid = (await waitForWatchdog(dir))!;
    fs.rmSync(dir, { recursive: true, force: true });
    await until(() => !alive(pid), "the watchdog to exit", 10_000);
  });
});
