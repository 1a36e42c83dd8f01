// A local mixed fleet on one machine: one Polyarch agent per requested architecture, each with
// its own OVS bridge on ONE private userspace Open vSwitch (ovsdb-server + ovs-vswitchd with
// their own run/db/log dir under <dataDir>/ovs, datapath_type=netdev) — a second userspace
// vswitchd in the same network namespace cannot start (both want the "ovs-netdev" tap). An
// uplink bridge joins the agent bridges with patch ports (trunk), like the physical network
// between real hosts: same VLAN on two hosts = one L2 segment. The x86_64 agent runs on this Node; the aarch64 agent runs
// the same bundle (dist/agent.mjs) on the arm64 Node from scripts/fleet/arm64-node.sh under
// qemu-aarch64-static (its child processes — QEMU, qemu-img, ovs-vsctl — are native).
// Agents listen on 127.0.0.1 only (port 0 by default: the agent advertises the port it got) and
// serve HTTPS with the certificate the controller issues at registration (mutual TLS: they accept
// only the controller's client certificate; docs/decisions/017-agent-tls.md).
//
//   import { startFleet } from "./scripts/fleet/fleet.mjs";
//   const fleet = await startFleet({ controllerUrl, joinToken, dataDir, arches: ["x86_64", "aarch64"] });
//   (controllerUrl: the controller's agent TLS port, https://127.0.0.1:<POLYARCH_AGENT_TLS_PORT>, with
//   controllerCa = <its data dir>/pki/ca/cert.pem; a plain http:// URL works too, for old set-ups)
//   fleet.agents  // [{ arch, emulated, machineId, hostId, url, port, pid, stateDir, bridge, ovsDb, logFile }]
//   fleet.errors  // [{ arch, error }] for arches that could not start (strict: false)
//   await fleet.stop();  // agents, their VMs (QEMU), taps, bridges, OVS daemons — every pid we started
//
// stop() also runs on SIGINT/SIGTERM of this process, and a synchronous best-effort kill runs on
// process exit. CLI: node scripts/fleet/fleet.mjs --controller URL --join-token-file FILE [--data-dir DIR]
//   [--arch x86_64,aarch64] [--heartbeat-ms N] [--keep-vms] [--strict] [--controller-ca FILE] [--insecure-http]
import { spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ovsEnv, startOvs, stopOvsDaemons, teardownOvs, teardownOvsSync, vsctl } from "./ovs.mjs";
import { alive, killPid, killPidSync, procArgv, readPid, run, sleep } from "./processes.mjs";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const ALIASES = {
  x86_64: "x86_64",
  amd64: "x86_64",
  x64: "x86_64",
  "x86-64": "x86_64",
  aarch64: "aarch64",
  arm64: "aarch64",
  armv8: "aarch64",
};

export function normalizeArch(a) {
  const v =
    ALIASES[
      String(a ?? "")
        .trim()
        .toLowerCase()
    ];
  if (!v) throw new Error(`unknown architecture "${a}" (x86_64 or aarch64)`);
  return v;
}
export const hostArch = () => normalizeArch(os.machine());

// ---- agent runtime per arch ---------------------------------------------------------------------
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
async function runtimeFor(arch) {
  const host = hostArch();
  if (arch === host) return { prefix: [process.execPath], emulated: false };
  if (arch === "aarch64" && host === "x86_64") return { prefix: await arm64NodePrefix(), emulated: true };
  throw new Error(`no way to run an ${arch} agent on this ${host} machine`);
}

function shortHash(s, n = 6) {
  return crypto.createHash("sha256").update(s).digest("hex").slice(0, n);
}

/** Ids of the VMs in an agent's state dir (<stateDir>/vms/<id>/), or none. */
function vmIds(stateDir) {
  try {
    return fs.readdirSync(path.join(stateDir, "vms"));
  } catch {
    return [];
  }
}

/** QEMU processes of an agent's VMs: <stateDir>/vms/<id>/qemu.pid, confirmed by argv. */
function vmPids(stateDir) {
  const out = [];
  for (const id of vmIds(stateDir)) {
    const pidFile = path.join(stateDir, "vms", id, "qemu.pid");
    const pid = readPid(pidFile);
    if (pid && alive(pid) && isVmOf(pidFile)(pid)) out.push(pid);
  }
  return out;
}
/** Taps the agent names for its VMs' NICs (agent/src/network/ovs.ts tapName): fallback when OVS lost a port. */
function vmTapNames(stateDir) {
  const out = [];
  const vms = path.join(stateDir, "vms");
  const ids = vmIds(stateDir);
  for (const id of ids) {
    try {
      const spec = JSON.parse(fs.readFileSync(path.join(vms, id, "spec.json"), "utf8"));
      for (const nic of spec.nics ?? []) if (nic?.id) out.push("pa" + shortHash(`${id}/${nic.id}`, 12));
    } catch {
      /* no spec */
    }
  }
  return out;
}
// QEMU renames its thread (-name process=...): check argv[0], not comm.
const isVmOf = (pidFile) => (pid) => {
  const argv = procArgv(pid);
  return path.basename(argv[0] ?? "").startsWith("qemu-system") && argv.includes(pidFile);
};
const isAgentOf = (stateDir) => (pid) => {
  const argv = procArgv(pid);
  return argv.some((a) => a.endsWith("agent.mjs")) && argv.includes(stateDir);
};

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

function assertLoopbackUrl(u, what) {
  const url = new URL(u);
  const h = url.hostname.replace(/^\[|\]$/g, "");
  if (!(h === "localhost" || h === "::1" || /^127\./.test(h)))
    throw new Error(`${what} must be a loopback URL here (got ${u})`);
}

/**
 * @param {object} o
 * @param {string} o.controllerUrl          loopback URL of the controller (https = its agent TLS port; needs controllerCa)
 * @param {string} o.joinToken              cluster join token
 * @param {string} o.dataDir                fleet state: <dataDir>/<arch>/{state,ovs,agent.log}
 * @param {string[]} [o.arches]             default ["x86_64"]; aliases accepted
 * @param {(msg: string) => void} [o.log]
 * @param {string} [o.agentBundle]          default <repo>/dist/agent.mjs
 * @param {Record<string, number>} [o.ports] fixed ports per arch (default 0 = any free port)
 * @param {string} [o.machineIdPrefix]      default "local" -> machine ids local-x86_64, local-aarch64
 * @param {number} [o.heartbeatMs]          passed as --heartbeat-ms
 * @param {string[]} [o.agentArgs]          extra agent flags (e.g. --insecure-http: plain HTTP, development only)
 * @param {string} [o.controllerCa]         the controller's CA (<its data dir>/pki/ca/cert.pem): passed as --controller-ca when
 *                                          the file exists, else the agents trust the CA of their first registration
 * @param {boolean} [o.waitRegistered]      wait until each agent registered (default true)
 * @param {number} [o.timeoutMs]            per agent start timeout (default 120 s)
 * @param {boolean} [o.strict]              throw (after cleanup) if any arch fails (default false)
 * @param {boolean} [o.stopVms]             stop() also kills the agents' QEMU VMs (default true)
 * @param {boolean} [o.handleSignals]       stop on SIGINT/SIGTERM (default true)
 */
export async function startFleet(o) {
  const log = o.log ?? ((m) => console.log(`[fleet] ${m}`));
  if (!o.controllerUrl || !o.joinToken || !o.dataDir)
    throw new Error("startFleet needs controllerUrl, joinToken and dataDir");
  assertLoopbackUrl(o.controllerUrl, "controllerUrl");
  // An https controller is verified against its cluster CA only: the agents need that CA from the start.
  if (new URL(o.controllerUrl).protocol === "https:" && !(o.controllerCa && fs.existsSync(o.controllerCa))) {
    throw new Error(
      `an https controllerUrl needs controllerCa (<controller data dir>/pki/ca/cert.pem)${o.controllerCa ? `: ${o.controllerCa} does not exist` : ""}`,
    );
  }
  const arches = [...new Set((o.arches ?? ["x86_64"]).map(normalizeArch))];
  const bundle = path.resolve(o.agentBundle ?? path.join(REPO, "dist/agent.mjs"));
  if (!fs.existsSync(bundle)) throw new Error(`agent bundle ${bundle} is missing: run npm run agent:build`);
  const dataDir = path.resolve(o.dataDir);
  const stopVms = o.stopVms ?? true;
  const tag = shortHash(dataDir);
  const uplink = `pa${tag}u`;

  const agents = []; // started (also partially) agents, for stop()
  const errors = [];
  let stopping = null;
  // ONE private userspace OVS for the whole fleet, one bridge per agent (docs/decisions/009-local-fleet-one-ovs.md):
  // every netdev-datapath ovs-vswitchd opens a kernel tap named "ovs-netdev", so a second
  // userspace vswitchd in the same network namespace fails ("Device or resource busy").
  const ovsDir = path.join(dataDir, "ovs");
  const ovs = { dir: ovsDir, db: `unix:${path.join(ovsDir, "db.sock")}`, env: ovsEnv(ovsDir) };
  let ovsStarted = false;

  const stop = () =>
    (stopping ??= (async () => {
      removeHandlers();
      for (const a of [...agents].reverse()) {
        try {
          await stopAgent(a);
        } catch (e) {
          log(`stop ${a.arch}: ${e instanceof Error ? e.message : e}`);
        }
      }
      if (ovsStarted) {
        if (stopVms)
          await teardownOvs(
            ovs,
            agents.flatMap((a) => a.vmTaps ?? []),
          );
        else await stopOvsDaemons(ovs.dir); // VMs keep running; the db keeps their ports for the next start
        ovsStarted = false;
      }
    })());

  async function stopAgent(a) {
    if (a.child && a.child.exitCode === null && a.child.signalCode === null) {
      await killPid(a.child.pid, () => true, 20_000);
    }
    if (stopVms) {
      a.vmTaps = vmTapNames(a.stateDir);
      for (const pid of vmPids(a.stateDir)) {
        const argv = procArgv(pid);
        const pidFile = argv[argv.indexOf("-pidfile") + 1] ?? "";
        await killPid(pid, isVmOf(pidFile), 5_000);
      }
    }
    await fsp.rm(path.join(a.dir, "agent.pid"), { force: true });
    a.stopped = true;
  }

  // Synchronous last resort when the parent exits without awaiting stop().
  const onExit = () => {
    for (const a of agents) {
      if (a.stopped) continue;
      if (a.child?.pid) killPidSync(a.child.pid, () => true);
      if (stopVms) for (const pid of vmPids(a.stateDir)) killPidSync(pid, () => true);
    }
    if (!ovsStarted) return;
    teardownOvsSync(ovs, stopVms);
  };
  const onSignal = (sig) => {
    log(`${sig}: stopping the local fleet`);
    stop().finally(() => {
      // Nobody else handles this signal: behave like the default (exit), after cleaning up.
      if (process.listenerCount(sig) === 0) process.exit(sig === "SIGINT" ? 130 : 143);
    });
  };
  const handleSignals = o.handleSignals ?? true;
  function removeHandlers() {
    process.off("exit", onExit);
    if (handleSignals) {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
  }
  process.on("exit", onExit);
  if (handleSignals) {
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  }

  try {
    const t0 = Date.now();
    // A previous run that crashed may have left its agents behind: stop them first (their VMs
    // stay and are re-attached by the new agents; the kept conf.db re-adds their taps).
    for (const arch of arches) {
      const st = path.join(dataDir, arch, "state");
      await killPid(readPid(path.join(dataDir, arch, "agent.pid")), isAgentOf(st), 20_000);
    }
    ovsStarted = true; // from here on, stop() tears it down (also a half-started one)
    await startOvs(ovsDir);
    // The "physical network" between the hosts: an uplink bridge with a patch port (a trunk:
    // all VLANs) to every agent bridge, so VMs on the same VLAN reach each other across hosts.
    await vsctl(ovs, ["--may-exist", "add-br", uplink, "--", "set", "bridge", uplink, "datapath_type=netdev"]);
    log(`private OVS in ${ovsDir} (uplink bridge ${uplink}) in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  } catch (e) {
    await stop();
    throw new Error(`local fleet: Open vSwitch could not start: ${e instanceof Error ? e.message : e}`);
  }

  for (const arch of arches) {
    const dir = path.join(dataDir, arch);
    const short = arch === "x86_64" ? "x" : "a";
    const a = {
      arch,
      dir,
      stateDir: path.join(dir, "state"),
      logFile: path.join(dir, "agent.log"),
      child: null,
      stopped: false,
    };
    a.bridge = `pa${tag}${short}`;
    a.machineId = `${o.machineIdPrefix ?? "local"}-${arch}`;
    agents.push(a);
    const t0 = Date.now();
    try {
      await fsp.mkdir(a.stateDir, { recursive: true, mode: 0o700 });
      const rt = await runtimeFor(arch);
      a.emulated = rt.emulated;
      // The agent bridge (the agent would create it too, --may-exist) + its uplink patch pair.
      const pHost = `pa${tag}${short}p`;
      const pUp = `pa${tag}u${short}`;
      await vsctl(ovs, [
        "--may-exist",
        "add-br",
        a.bridge,
        "--",
        "set",
        "bridge",
        a.bridge,
        "datapath_type=netdev",
        "--",
        "--may-exist",
        "add-port",
        a.bridge,
        pHost,
        "--",
        "set",
        "interface",
        pHost,
        "type=patch",
        `options:peer=${pUp}`,
        "--",
        "--may-exist",
        "add-port",
        uplink,
        pUp,
        "--",
        "set",
        "interface",
        pUp,
        "type=patch",
        `options:peer=${pHost}`,
      ]);
      const port = o.ports?.[arch] ?? 0;
      const caArgs = o.controllerCa && fs.existsSync(o.controllerCa) ? ["--controller-ca", o.controllerCa] : [];
      // The join token goes in a 0600 file, never on the command line (ps shows argv to everyone; ADR 025).
      const tokenFile = path.join(dir, "join-token");
      fs.writeFileSync(tokenFile, o.joinToken + "\n", { mode: 0o600 });
      fs.chmodSync(tokenFile, 0o600);
      const args = [
        bundle,
        "--controller",
        o.controllerUrl,
        "--join-token-file",
        tokenFile,
        "--listen",
        `127.0.0.1:${port}`,
        ...caArgs,
        "--state-dir",
        a.stateDir,
        "--bridge",
        a.bridge,
        "--ovs-db",
        ovs.db,
        "--ovs-datapath",
        "netdev",
        "--machine-id",
        a.machineId,
        ...(o.heartbeatMs ? ["--heartbeat-ms", String(o.heartbeatMs)] : []),
        ...(o.agentArgs ?? []),
      ];
      const argv = [...rt.prefix, ...args];
      const out = fs.createWriteStream(a.logFile, { flags: "a" });
      out.write(`# ${new Date().toISOString()} ${JSON.stringify(argv)}\n`);
      const child = spawn(argv[0], argv.slice(1), {
        cwd: dir,
        env: { ...ovs.env },
        stdio: ["ignore", "pipe", "pipe"],
        detached: true,
      });
      a.child = child;
      a.pid = child.pid;
      fs.writeFileSync(path.join(dir, "agent.pid"), `${child.pid}\n`);
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
            if (ev.level === "error") log(`${arch} agent: ${ev.event} ${ev.error ?? ""}`);
          } catch {
            /* not JSON */
          }
        }
      });
      child.stderr.on("data", (d) => out.write(d));
      child.on("exit", (code, sig) => {
        out.write(`# exited ${code ?? sig}\n`);
        out.end();
        if (!stopping && !a.stopped) log(`${arch} agent exited unexpectedly (${code ?? sig}); see ${a.logFile}`);
      });
      const timeoutMs = o.timeoutMs ?? 120_000;
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
        wantRegistered: o.waitRegistered ?? true,
        events,
      });
      a.hostId = health.hostId ?? null;
      log(
        `${arch} agent${a.emulated ? " (arm64 Node under qemu-user)" : ""} up at ${a.url} in ${((Date.now() - t0) / 1000).toFixed(1)}s` +
          ` — bridge ${a.bridge}, state ${a.stateDir}`,
      );
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      errors.push({ arch, error: msg });
      log(`${arch} agent could not start: ${msg}`);
      await stopAgent(a).catch(() => {});
      if (o.strict) {
        await stop();
        throw new Error(`${arch} agent could not start: ${msg}`);
      }
    }
  }

  const running = agents.filter((a) => !a.stopped);
  const view = (a) => ({
    arch: a.arch,
    emulated: a.emulated,
    machineId: a.machineId,
    hostId: a.hostId,
    url: a.url,
    port: a.port,
    pid: a.pid,
    stateDir: a.stateDir,
    bridge: a.bridge,
    logFile: a.logFile,
    ovsDb: ovs.db,
    ovsDir: ovs.dir,
  });
  return { agents: running.map(view), errors, ovs: { dir: ovs.dir, db: ovs.db, uplink }, stop };
}

// ---- CLI -------------------------------------------------------------------------------------------
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { parseArgs } = await import("node:util");
  const { values } = parseArgs({
    options: {
      controller: { type: "string" },
      "join-token-file": { type: "string" },
      "data-dir": { type: "string" },
      arch: { type: "string" },
      "heartbeat-ms": { type: "string" },
      "keep-vms": { type: "boolean" },
      strict: { type: "boolean" },
      help: { type: "boolean" },
      "controller-ca": { type: "string" },
      "insecure-http": { type: "boolean" },
    },
  });
  const joinToken = values["join-token-file"]
    ? fs.readFileSync(values["join-token-file"], "utf8").trim()
    : process.env.POLYARCH_JOIN_TOKEN;
  if (values.help || !values.controller || !joinToken) {
    console.log(
      "usage: node scripts/fleet/fleet.mjs --controller https://127.0.0.1:3443 --controller-ca data/pki/ca/cert.pem" +
        " --join-token-file FILE (or env POLYARCH_JOIN_TOKEN)" +
        " [--data-dir DIR] [--arch x86_64,aarch64] [--heartbeat-ms N] [--keep-vms] [--strict] [--insecure-http]",
    );
    process.exit(values.help ? 0 : 2);
  }
  const fleet = await startFleet({
    controllerUrl: values.controller,
    joinToken,
    dataDir: values["data-dir"] ?? path.join(REPO, "data", "fleet"),
    arches: (values.arch ?? "x86_64,aarch64").split(","),
    heartbeatMs: values["heartbeat-ms"] ? Number(values["heartbeat-ms"]) : undefined,
    stopVms: !values["keep-vms"],
    strict: values.strict,
    controllerCa: values["controller-ca"],
    agentArgs: values["insecure-http"] ? ["--insecure-http"] : [],
  });
  console.log(JSON.stringify({ agents: fleet.agents, errors: fleet.errors, ovs: fleet.ovs }, null, 2));
  if (fleet.agents.length === 0) {
    await fleet.stop();
    process.exit(1);
  }
  console.log("[fleet] running; Ctrl-C stops the agents, their VMs and OVS");
  setInterval(() => {}, 1 << 30); // keep alive until a signal
}
