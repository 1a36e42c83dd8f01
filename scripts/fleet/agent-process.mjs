// One local agent process of the fleet (scripts/fleet/fleet.mjs): the runtime it runs on, how to
// recognise it, its QEMUs and its fence watchdog by /proc (a pid file may outlive its process and
// the pid may be reused), and launching it until it listens and the controller knows its URL.
import { spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { hostArch } from "./fleet-spec.mjs";
import { alive, procArgv, readPid, run, sleep } from "./processes.mjs";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

// ---- runtime per arch ---------------------------------------------------------------------------
let arm64PrefixPromise = null;
/** [qemu-aarch64-static, -L, sysroot, node] from scripts/fleet/arm64-node.sh (cached after the first run). */
export function arm64NodePrefix() {
  arm64PrefixPromise ??= run("bash", [path.join(REPO, "scripts/fleet/arm64-node.sh"), "--json"], {
    timeoutMs: 15 * 60_000,
  }).then(({ stdout }) => {
    const line = stdout.trim().split("\n").pop();
    const info = JSON.parse(line);
    if (!Array.isArray(info.prefix) || info.prefix.length < 2)
      throw new Error(`arm64-node.sh printed no prefix: ${line}`);
    return info.prefix;
  });
  arm64PrefixPromise.catch(() => (arm64PrefixPromise = null));
  return arm64PrefixPromise;
}
/** The argv prefix that runs a Node script as `arch` here: this Node, or the arm64 Node under qemu-user. */
export async function runtimeFor(arch) {
  const host = hostArch();
  if (arch === host) return { prefix: [process.execPath], emulated: false };
  if (arch === "aarch64" && host === "x86_64") return { prefix: await arm64NodePrefix(), emulated: true };
  throw new Error(`no way to run an ${arch} agent on this ${host} machine`);
}

export function shortHash(s, n = 6) {
  return crypto.createHash("sha256").update(s).digest("hex").slice(0, n);
}

// ---- recognising an agent's processes ---------------------------------------------------------
/** Ids of the VMs in an agent's state dir (<stateDir>/vms/<id>/), or none. */
export function vmIds(stateDir) {
  try {
    return fs.readdirSync(path.join(stateDir, "vms"));
  } catch {
    return [];
  }
}
// QEMU renames its thread (-name process=...): check argv[0], not comm.
export const isVmOf = (pidFile) => (pid) => {
  const argv = procArgv(pid);
  return path.basename(argv[0] ?? "").startsWith("qemu-system") && argv.includes(pidFile);
};
export const isAgentOf = (stateDir) => (pid) => {
  const argv = procArgv(pid);
  return argv.some((a) => a.endsWith("agent.mjs")) && argv.includes(stateDir);
};
/** The fence watchdog the agent spawns (agent/src/fence): "fence-watchdog" and the state dir in its argv. */
export const isWatchdogOf = (stateDir) => (pid) => {
  const argv = procArgv(pid);
  return argv.some((a) => a.includes("fence-watchdog")) && argv.includes(stateDir);
};
/** The watchdog's pid file (the watchdog writes it itself, once it runs). */
export function watchdogPid(stateDir) {
  const pid = readPid(path.join(stateDir, "fence", "watchdog.pid"));
  return pid && alive(pid) && isWatchdogOf(stateDir)(pid) ? pid : null;
}
/**
 * Every watchdog of the state dir by /proc: also one the agent has just spawned that has not written
 * its pid file yet (under qemu-user that takes seconds), which a pid-file lookup would miss.
 */
export function watchdogPids(stateDir) {
  return procPids().filter(isWatchdogOf(stateDir));
}
function procPids() {
  return fs
    .readdirSync("/proc")
    .filter((e) => /^\d+$/.test(e))
    .map(Number);
}

/** QEMU processes of an agent's VMs: <stateDir>/vms/<id>/qemu.pid, confirmed by argv. */
export function vmPids(stateDir) {
  const out = [];
  for (const id of vmIds(stateDir)) {
    const pidFile = path.join(stateDir, "vms", id, "qemu.pid");
    const pid = readPid(pidFile);
    if (pid && alive(pid) && isVmOf(pidFile)(pid)) out.push(pid);
  }
  return out;
}

/**
 * Every QEMU on this machine whose argv names `<stateDir>/vms/<vmId>/` of one of `stateDirs` — by
 * /proc, not by pid files, so a copy whose files were moved or removed still counts.
 */
export function qemuProcessesOf(vmId, stateDirs) {
  const out = [];
  for (const pid of procPids()) {
    const argv = procArgv(pid);
    if (!path.basename(argv[0] ?? "").startsWith("qemu-system")) continue;
    const stateDir = stateDirs.find((d) => argv.some((a) => a.includes(path.join(d, "vms", vmId) + path.sep)));
    if (stateDir) out.push({ pid, stateDir, argv });
  }
  return out;
}

/** Taps the agent names for its VMs' NICs (agent/src/network/ovs.ts tapName): fallback when OVS lost a port. */
export function vmTapNames(stateDir) {
  const out = [];
  for (const id of vmIds(stateDir)) {
    try {
      const spec = JSON.parse(fs.readFileSync(path.join(stateDir, "vms", id, "spec.json"), "utf8"));
      for (const nic of spec.nics ?? []) if (nic?.id) out.push("pa" + shortHash(`${id}/${nic.id}`, 12));
    } catch {
      /* no spec */
    }
  }
  return out;
}

// ---- launching ---------------------------------------------------------------------------------
/**
 * A TLS agent answers only the controller's client certificate, so its log tells instead: the
 * `agent.registered` / `agent.announced` events carry the host id (`events` is filled from stdout).
 */
async function waitHealthy(url, child, { timeoutMs, wantRegistered, events }) {
  const until = Date.now() + timeoutMs;
  let last = "no answer";
  while (Date.now() < until) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`agent exited (${child.exitCode ?? child.signalCode})`);
    if (new URL(url).protocol === "https:") {
      // Registered in this run, or (identity kept from an earlier run) its first heartbeat told the
      // controller the new URL — before that the controller would still call the old port.
      const reg = events.find((e) => e.event === "agent.registered" || e.event === "agent.announced");
      const hostId = events.find((e) => e.hostId)?.hostId ?? null;
      if (!wantRegistered || (reg && hostId)) return { ok: true, registered: Boolean(reg), hostId };
      const failed = [...events]
        .reverse()
        .find((e) => e.event === "controller.register_failed" || e.event === "controller.untrusted");
      last = failed ? `${failed.event}: ${failed.error ?? ""}` : "not registered yet";
      await sleep(100);
      continue;
    }
    try {
      const res = await fetch(`${url}/v1/health`, { signal: AbortSignal.timeout(3_000) });
      const body = await res.json().catch(() => ({}));
      if (res.ok && (!wantRegistered || body.registered === true)) return body;
      last = `HTTP ${res.status} ${JSON.stringify(body)}`;
    } catch (e) {
      last = e instanceof Error ? e.message : String(e);
    }
    await sleep(300);
  }
  throw new Error(
    `agent at ${url} not ${wantRegistered ? "registered" : "healthy"} after ${timeoutMs / 1000}s (${last})`,
  );
}

/**
 * Spawns the agent `a` ({ arch, dir, logFile, machineId }) with `argv` (detached: its own process
 * group), writes <dir>/agent.pid, waits until it listens and (wantRegistered) the controller has its
 * URL. Sets a.child, a.pid, a.url, a.port, a.hostId. `isStopping()` silences the exit message.
 */
export async function launchAgent(a, argv, { env, log, timeoutMs = 120_000, wantRegistered = true, isStopping }) {
  const out = fs.createWriteStream(a.logFile, { flags: "a" });
  out.write(`# ${new Date().toISOString()} ${JSON.stringify(argv)}\n`);
  const child = spawn(argv[0], argv.slice(1), { cwd: a.dir, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  a.child = child;
  a.pid = child.pid;
  fs.writeFileSync(path.join(a.dir, "agent.pid"), `${child.pid}\n`);
  let advertised = null;
  const events = [];
  let buf = "";
  child.stdout.on("data", (d) => {
    out.write(d);
    buf += d.toString();
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        const ev = JSON.parse(line);
        if (events.length < 200) events.push(ev);
        if (ev.event === "agent.listening") advertised = ev.advertiseUrl;
        if (ev.level === "error") log(`${a.machineId} agent: ${ev.event} ${ev.error ?? ""}`);
      } catch {
        /* not JSON */
      }
    }
  });
  child.stderr.on("data", (d) => out.write(d));
  child.on("exit", (code, sig) => {
    out.write(`# exited ${code ?? sig}\n`);
    out.end();
    if (!isStopping?.() && !a.stopped && !a.expectExit)
      log(`${a.machineId} agent exited unexpectedly (${code ?? sig}); see ${a.logFile}`);
  });
  const until = Date.now() + timeoutMs;
  while (!advertised) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`agent exited (${child.exitCode ?? child.signalCode}) before listening; see ${a.logFile}`);
    if (Date.now() > until) throw new Error(`agent did not listen within ${timeoutMs / 1000}s; see ${a.logFile}`);
    await sleep(100);
  }
  a.url = advertised;
  a.port = Number(new URL(advertised).port);
  const health = await waitHealthy(advertised, child, {
    timeoutMs: Math.max(5_000, until - Date.now()),
    wantRegistered,
    events,
  });
  a.hostId = health.hostId ?? a.hostId ?? null;
}
