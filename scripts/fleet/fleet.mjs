// A local mixed fleet on one machine: Polyarch agents per architecture — one of each by default,
// several with POLYARCH_FLEET=x86_64:2,aarch64:2 (scripts/fleet/fleet-spec.mjs names them) — each
// with its own OVS bridge on ONE private userspace Open vSwitch (ovsdb-server + ovs-vswitchd with
// their own run/db/log dir under <dataDir>/ovs, datapath_type=netdev) — a second userspace
// vswitchd in the same network namespace cannot start (both want the "ovs-netdev" tap). An
// uplink bridge joins the agent bridges with patch ports (trunk), like the physical network
// between real hosts: same VLAN on two hosts = one L2 segment. An external bridge (no port to anything
// outside: the fleet's own "internet", for routers, SNAT and floating IPs, ADR 058) is passed to every
// agent as --external-bridge; a test plugs its "outside" namespace into it (scripts/fleet/outside.mjs).
// The x86_64 agents run on this Node; the aarch64 agents run
// the same bundle (dist/agent.mjs) on the arm64 Node from scripts/fleet/arm64-node.sh under
// qemu-aarch64-static (their child processes — QEMU, qemu-img, ovs-vsctl — are native).
// Agents listen on 127.0.0.1 only (port 0 by default: the agent advertises the port it got) and
// serve HTTPS with the certificate the controller issues at registration (mutual TLS: they accept
// only the controller's client certificate; docs/decisions/017-agent-tls.md).
//
//   import { startFleet } from "./scripts/fleet/fleet.mjs";
//   const fleet = await startFleet({ controllerUrl, joinToken, dataDir, fleet: { x86_64: 2, aarch64: 2 } });
//   (controllerUrl: the controller's agent TLS port, https://127.0.0.1:<POLYARCH_AGENT_TLS_PORT>, with
//   controllerCa = <its data dir>/pki/ca/cert.pem; a plain http:// URL works too, for old set-ups)
//   fleet.agents  // [{ arch, index, emulated, machineId, hostId, url, port, pid, stateDir, bridge, ovsDb, logFile }]
//   fleet.errors  // [{ arch, machineId, error }] for agents that could not start (strict: false)
//   await fleet.killAgent(machineId, { withVms: true })  // SIGKILL: a dead host (agent, watchdog, QEMUs)
//   fleet.signalAgent(machineId, "SIGSTOP" | "SIGCONT")   // a frozen host
//   await fleet.restartAgent(machineId)                    // same flags and state dir: re-attaches its VMs
//   fleet.qemuProcesses(vmId)  // [{ pid, machineId, stateDir }]: every QEMU naming the VM under any agent
//   fleet.externalBridge       // the external OVS bridge every agent routes to (null with externalBridge: false)
//   await fleet.vsctl(["add-port", fleet.externalBridge, "veth0"])  // ovs-vsctl on the fleet's private OVS
//   await fleet.stop();  // agents, their fence watchdogs, VMs (QEMU), taps, bridges, OVS daemons
//
// stop() also runs on SIGINT/SIGTERM of this process, and a synchronous best-effort kill runs on
// process exit. CLI: node scripts/fleet/fleet.mjs --controller URL --join-token-file FILE [--data-dir DIR]
//   [--fleet x86_64:2,aarch64:2 | --arch x86_64,aarch64] [--heartbeat-ms N] [--keep-vms] [--strict]
//   [--controller-ca FILE] [--insecure-http] [--agent-bundle FILE] [--no-external-bridge]
//   (no --fleet/--arch: POLYARCH_FLEET, else one agent per arch)
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  isAgentOf,
  isVmOf,
  isWatchdogOf,
  launchAgent,
  qemuProcessesOf,
  runtimeFor,
  shortHash,
  vmPids,
  vmTapNames,
  watchdogPids,
} from "./agent-process.mjs";
import { agentSlots, fleetCounts, parseFleetSpec } from "./fleet-spec.mjs";
import { ovsEnv, startOvs, stopOvsDaemons, teardownOvs, teardownOvsSync, vsctl } from "./ovs.mjs";
import { alive, killPid, killPidSync, procArgv, readPid, sbin, sleep } from "./processes.mjs";

export { hostArch, normalizeArch, parseFleetSpec } from "./fleet-spec.mjs";
export { arm64NodePrefix } from "./agent-process.mjs";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

function assertLoopbackUrl(u, what) {
  const url = new URL(u);
  const h = url.hostname.replace(/^\[|\]$/g, "");
  if (!(h === "localhost" || h === "::1" || /^127\./.test(h)))
    throw new Error(`${what} must be a loopback URL here (got ${u})`);
}

/** Signals a pid only while `still(pid)` confirms it is ours; false when it is gone. */
function signal(pid, sig, still) {
  if (!pid || !alive(pid) || !still(pid)) return false;
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/**
 * @param {object} o
 * @param {string} o.controllerUrl          loopback URL of the controller (https = its agent TLS port; needs controllerCa)
 * @param {string} o.joinToken              cluster join token
 * @param {string} o.dataDir                fleet state: <dataDir>/<arch>[-<n>]/{state,agent.log}, <dataDir>/ovs
 * @param {Record<string, number> | string} [o.fleet]  agents per arch ({ x86_64: 2, aarch64: 2 } or "x86_64:2,aarch64:2")
 * @param {string[]} [o.arches]             one agent per arch (when no `fleet`); default ["x86_64"]; aliases accepted
 * @param {(msg: string) => void} [o.log]
 * @param {string} [o.agentBundle]          default <repo>/dist/agent.mjs
 * @param {Record<string, number>} [o.ports] fixed ports by arch (first agent) or "<arch>-<n>" (default 0 = any free port)
 * @param {string} [o.machineIdPrefix]      default "local" -> machine ids local-x86_64, local-x86_64-2, local-aarch64
 * @param {number} [o.heartbeatMs]          passed as --heartbeat-ms
 * @param {string[]} [o.agentArgs]          extra agent flags (e.g. --insecure-http: plain HTTP, development only)
 * @param {string} [o.controllerCa]         the controller's CA (<its data dir>/pki/ca/cert.pem): passed as --controller-ca when
 *                                          the file exists, else the agents trust the CA of their first registration
 * @param {boolean} [o.waitRegistered]      wait until each agent registered (default true)
 * @param {number} [o.timeoutMs]            per agent start timeout (default 120 s)
 * @param {boolean} [o.strict]              throw (after cleanup) if any agent fails (default false)
 * @param {boolean} [o.stopVms]             stop() also kills the agents' QEMU VMs (default true)
 * @param {boolean} [o.handleSignals]       stop on SIGINT/SIGTERM (default true)
 * @param {string} [o.netns]                run OVS and the agents (so their taps and QEMUs) in this network namespace;
 *                                          controllerUrl may then be any address reachable from there
 * @param {string} [o.listenHost]           the agents' listen (and advertised) address (default 127.0.0.1)
 * @param {boolean} [o.externalBridge]      an external bridge pa<tag>e on the private OVS, passed to every agent as
 *                                          --external-bridge (routers, SNAT, floating IPs; ADR 058); default true
 */
export async function startFleet(o) {
  const log = o.log ?? ((m) => console.log(`[fleet] ${m}`));
  if (!o.controllerUrl || !o.joinToken || !o.dataDir)
    throw new Error("startFleet needs controllerUrl, joinToken and dataDir");
  // In a network namespace of its own (faults/netns.ts) the controller is reachable only there.
  if (!o.netns) assertLoopbackUrl(o.controllerUrl, "controllerUrl");
  const nsExec = o.netns ? ["ip", "netns", "exec", o.netns] : [];
  // An https controller is verified against its cluster CA only: the agents need that CA from the start.
  if (new URL(o.controllerUrl).protocol === "https:" && !(o.controllerCa && fs.existsSync(o.controllerCa))) {
    throw new Error(
      `an https controllerUrl needs controllerCa (<controller data dir>/pki/ca/cert.pem)${o.controllerCa ? `: ${o.controllerCa} does not exist` : ""}`,
    );
  }
  const counts = fleetCounts(o);
  const bundle = path.resolve(o.agentBundle ?? path.join(REPO, "dist/agent.mjs"));
  if (!fs.existsSync(bundle)) throw new Error(`agent bundle ${bundle} is missing: run npm run agent:build`);
  const dataDir = path.resolve(o.dataDir);
  const stopVms = o.stopVms ?? true;
  const tag = shortHash(dataDir);
  const uplink = `pa${tag}u`;
  // The fleet's "internet": a bridge on the private OVS with no port to anything real and no patch to the
  // uplink trunk. Routers need nft (and root) in the agent; without nft the agents could not use it.
  let externalBridge = o.externalBridge === false ? null : `pa${tag}e`;
  if (externalBridge && (o.agentArgs ?? []).includes("--external-bridge")) externalBridge = null; // the caller's own
  if (externalBridge && !path.isAbsolute(sbin("nft"))) {
    log("nft not found (apt-get install nftables): no external bridge, the agents refuse routers");
    externalBridge = null;
  }
  const slots = agentSlots(counts, { dataDir, tag, machineIdPrefix: o.machineIdPrefix ?? "local" });

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
      // At once, as they start: each waits on its own agent (and its QEMUs) to exit.
      await Promise.all(
        agents.map((a) => stopAgent(a).catch((e) => log(`stop ${a.machineId}: ${e instanceof Error ? e.message : e}`))),
      );
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

  const killWatchdogs = (a) =>
    Promise.all(watchdogPids(a.stateDir).map((pid) => killPid(pid, isWatchdogOf(a.stateDir), 5_000)));

  /** The agent and its fence watchdog (first, so it cannot fence VMs kept with --keep-vms), SIGCONT for a frozen one. */
  async function stopAgentProcess(a) {
    await killWatchdogs(a);
    if (a.child && a.child.exitCode === null && a.child.signalCode === null) {
      a.expectExit = true;
      signal(a.child.pid, "SIGCONT", () => true); // a SIGSTOPped agent would not act on SIGTERM
      await killPid(a.child.pid, () => true, 20_000);
    }
    // The agent never stops its watchdog, and may have spawned a new one while it shut down.
    await killWatchdogs(a);
  }

  async function stopAgent(a) {
    await stopAgentProcess(a);
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
      for (const pid of watchdogPids(a.stateDir)) killPidSync(pid, isWatchdogOf(a.stateDir));
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
    for (const s of slots) {
      await killPid(readPid(path.join(s.dir, "agent.pid")), isAgentOf(path.join(s.dir, "state")), 20_000);
    }
    ovsStarted = true; // from here on, stop() tears it down (also a half-started one)
    await startOvs(ovsDir, { netns: o.netns });
    // The "physical network" between the hosts: an uplink bridge with a patch port (a trunk:
    // all VLANs) to every agent bridge, so VMs on the same VLAN reach each other across hosts.
    await vsctl(ovs, ["--may-exist", "add-br", uplink, "--", "set", "bridge", uplink, "datapath_type=netdev"]);
    if (externalBridge)
      await vsctl(ovs, [
        ...["--may-exist", "add-br", externalBridge, "--", "set", "bridge", externalBridge, "datapath_type=netdev"],
        ...["--", "set", "bridge", externalBridge, "external_ids:polyarch-fleet=external"],
      ]);
    log(
      `private OVS in ${ovsDir} (uplink bridge ${uplink}${externalBridge ? `, external bridge ${externalBridge}` : ""})` +
        ` in ${((Date.now() - t0) / 1000).toFixed(1)}s`,
    );
  } catch (e) {
    await stop();
    throw new Error(`local fleet: Open vSwitch could not start: ${e instanceof Error ? e.message : e}`);
  }

  const launchOpts = () => ({
    env: { ...ovs.env },
    log,
    timeoutMs: o.timeoutMs ?? 120_000,
    wantRegistered: o.waitRegistered ?? true,
    isStopping: () => Boolean(stopping),
  });

  // The agents start at once: an emulated aarch64 agent takes 8–16 s to come up under qemu-user
  // (measured in CI), mostly on one core, and one after another a 2 + 2 fleet took ~30 s.
  const starting = slots.map((s) => {
    const a = { ...s, stateDir: path.join(s.dir, "state"), logFile: path.join(s.dir, "agent.log"), child: null };
    a.stopped = false;
    agents.push(a);
    return a;
  });
  const startOne = async (a) => {
    const t0 = Date.now();
    try {
      await fsp.mkdir(a.stateDir, { recursive: true, mode: 0o700 });
      const rt = await runtimeFor(a.arch);
      a.emulated = rt.emulated;
      // The agent bridge (the agent would create it too, --may-exist) + its uplink patch pair.
      await vsctl(ovs, [
        ...["--may-exist", "add-br", a.bridge, "--", "set", "bridge", a.bridge, "datapath_type=netdev"],
        ...["--", "--may-exist", "add-port", a.bridge, a.patchHost],
        ...["--", "set", "interface", a.patchHost, "type=patch", `options:peer=${a.patchUplink}`],
        ...["--", "--may-exist", "add-port", uplink, a.patchUplink],
        ...["--", "set", "interface", a.patchUplink, "type=patch", `options:peer=${a.patchHost}`],
      ]);
      const port = o.ports?.[a.index === 1 ? a.arch : `${a.arch}-${a.index}`] ?? 0;
      const caArgs = o.controllerCa && fs.existsSync(o.controllerCa) ? ["--controller-ca", o.controllerCa] : [];
      // The join token goes in a 0600 file, never on the command line (ps shows argv to everyone; ADR 025).
      const tokenFile = path.join(a.dir, "join-token");
      fs.writeFileSync(tokenFile, o.joinToken + "\n", { mode: 0o600 });
      fs.chmodSync(tokenFile, 0o600);
      a.argv = [
        ...nsExec, // `ip netns exec` execs the agent in place: same pid, same argv in /proc
        ...rt.prefix,
        bundle,
        ...["--controller", o.controllerUrl, "--join-token-file", tokenFile],
        ...["--listen", `${o.listenHost ?? "127.0.0.1"}:${port}`],
        ...caArgs,
        ...["--state-dir", a.stateDir, "--bridge", a.bridge, "--ovs-db", ovs.db, "--ovs-datapath", "netdev"],
        ...["--machine-id", a.machineId],
        // The agent starts its fence watchdog on the runtime it runs on itself (qemu-user for aarch64 here).
        ...["--node-command", JSON.stringify(rt.prefix)],
        ...(o.heartbeatMs ? ["--heartbeat-ms", String(o.heartbeatMs)] : []),
        // No DHCP namespaces (ADR 057) here unless asked: a SIGKILLed agent (killAgent, HA specs) would leave them behind.
        ...((o.agentArgs ?? []).includes("--dhcp") ? [] : ["--dhcp", "off"]),
        // Routers (ADR 058) on the fleet's external bridge; a router's namespace exists only while one is PUT.
        ...(externalBridge ? ["--external-bridge", externalBridge] : []),
        ...(o.agentArgs ?? []),
      ];
      await launchAgent(a, a.argv, launchOpts());
      log(
        `${a.machineId} agent${a.emulated ? " (arm64 Node under qemu-user)" : ""} up at ${a.url} in ${((Date.now() - t0) / 1000).toFixed(1)}s` +
          ` — bridge ${a.bridge}, state ${a.stateDir}`,
      );
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      errors.push({ arch: a.arch, machineId: a.machineId, error: msg });
      log(`${a.machineId} agent could not start: ${msg}`);
      await stopAgent(a).catch(() => {});
    }
  };
  // Every start settles (each catches its own failure) before a strict fleet is stopped as a whole.
  await Promise.all(starting.map(startOne));
  if (o.strict && errors.length > 0) {
    await stop();
    throw new Error(`${errors[0].machineId} agent could not start: ${errors[0].error}`);
  }

  const running = agents.filter((a) => !a.stopped);
  // Live views: restartAgent updates pid, url, port and hostId in place.
  const view = (a) =>
    (a.view ??= {
      arch: a.arch,
      index: a.index,
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
  const byMachine = (machineId) => {
    const a = running.find((x) => x.machineId === machineId);
    if (!a)
      throw new Error(`no running agent ${machineId} in this fleet (${running.map((x) => x.machineId).join(", ")})`);
    return a;
  };

  /** A dead host: SIGKILL the agent; withVms also its fence watchdog and its QEMUs (a power cut). */
  async function killAgent(machineId, { withVms = false } = {}) {
    const a = byMachine(machineId);
    a.expectExit = true;
    const killed = { agent: a.pid, watchdog: null, vms: [] };
    signal(a.pid, "SIGKILL", isAgentOf(a.stateDir));
    // Reaped first: a dead agent cannot spawn a new watchdog behind our back.
    for (let i = 0; i < 200 && a.child?.exitCode === null && a.child?.signalCode === null; i++) await sleep(50);
    if (withVms) {
      for (const pid of watchdogPids(a.stateDir))
        if (signal(pid, "SIGKILL", isWatchdogOf(a.stateDir))) killed.watchdog = pid;
      for (const pid of vmPids(a.stateDir)) {
        const argv = procArgv(pid);
        if (signal(pid, "SIGKILL", isVmOf(argv[argv.indexOf("-pidfile") + 1] ?? ""))) killed.vms.push(pid);
      }
    }
    for (let i = 0; i < 200 && [killed.agent, ...killed.vms].some(alive); i++) await sleep(50);
    return killed;
  }

  /** SIGSTOP freezes the agent (its heartbeats stop, its QEMUs and watchdog go on); SIGCONT thaws it. */
  function signalAgent(machineId, sig) {
    if (sig !== "SIGSTOP" && sig !== "SIGCONT") throw new Error(`signalAgent: SIGSTOP or SIGCONT, not ${sig}`);
    const a = byMachine(machineId);
    if (!signal(a.pid, sig, isAgentOf(a.stateDir))) throw new Error(`${machineId} agent (pid ${a.pid}) is not running`);
  }

  /** Starts the agent again with the same argv and state dir (stopping it first if it still runs). */
  async function restartAgent(machineId) {
    const a = byMachine(machineId);
    if (a.child && a.child.exitCode === null && a.child.signalCode === null) {
      a.expectExit = true;
      signal(a.pid, "SIGCONT", isAgentOf(a.stateDir));
      await killPid(a.pid, isAgentOf(a.stateDir), 20_000);
      for (let i = 0; i < 100 && a.child.exitCode === null && a.child.signalCode === null; i++) await sleep(50);
    }
    a.expectExit = false;
    const t0 = Date.now();
    await launchAgent(a, a.argv, launchOpts());
    Object.assign(view(a), { pid: a.pid, url: a.url, port: a.port, hostId: a.hostId });
    log(`${machineId} agent restarted at ${a.url} in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    return view(a);
  }

  /** Every QEMU process of `vmId` under any agent of this fleet (by argv), with the agent it belongs to. */
  function qemuProcesses(vmId) {
    return qemuProcessesOf(
      vmId,
      agents.map((a) => a.stateDir),
    ).map((p) => ({
      pid: p.pid,
      stateDir: p.stateDir,
      machineId: agents.find((a) => a.stateDir === p.stateDir)?.machineId,
    }));
  }

  return {
    agents: running.map(view),
    errors,
    ovs: { dir: ovs.dir, db: ovs.db, uplink, external: externalBridge },
    externalBridge,
    netns: o.netns ?? null,
    /** ovs-vsctl against the fleet's private OVS (e.g. to plug a test's veth into externalBridge) */
    vsctl: (args) => vsctl(ovs, args),
    stop,
    killAgent,
    signalAgent,
    restartAgent,
    qemuProcesses,
  };
}

// ---- CLI -------------------------------------------------------------------------------------------
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { parseArgs } = await import("node:util");
  const { values } = parseArgs({
    options: {
      controller: { type: "string" },
      "join-token-file": { type: "string" },
      "data-dir": { type: "string" },
      fleet: { type: "string" },
      arch: { type: "string" },
      "agent-bundle": { type: "string" },
      "heartbeat-ms": { type: "string" },
      "keep-vms": { type: "boolean" },
      strict: { type: "boolean" },
      help: { type: "boolean" },
      "controller-ca": { type: "string" },
      "insecure-http": { type: "boolean" },
      "no-external-bridge": { type: "boolean" },
    },
  });
  const joinToken = values["join-token-file"]
    ? fs.readFileSync(values["join-token-file"], "utf8").trim()
    : process.env.POLYARCH_JOIN_TOKEN;
  if (values.help || !values.controller || !joinToken) {
    console.log(
      "usage: node scripts/fleet/fleet.mjs --controller https://127.0.0.1:3443 --controller-ca data/pki/ca/cert.pem" +
        " --join-token-file FILE (or env POLYARCH_JOIN_TOKEN)" +
        " [--data-dir DIR] [--fleet x86_64:2,aarch64:2 | --arch x86_64,aarch64] [--heartbeat-ms N] [--keep-vms] [--strict]" +
        " [--insecure-http] [--agent-bundle dist/agent.mjs] [--no-external-bridge]\n  no --fleet/--arch: POLYARCH_FLEET, else one x86_64 and one aarch64 agent",
    );
    process.exit(values.help ? 0 : 2);
  }
  let fleetSpec;
  try {
    fleetSpec = values.fleet
      ? parseFleetSpec(values.fleet, "--fleet")
      : values.arch
        ? fleetCounts({ arches: values.arch.split(",") })
        : parseFleetSpec(process.env.POLYARCH_FLEET ?? "x86_64,aarch64");
  } catch (e) {
    console.error(`[fleet] ${e instanceof Error ? e.message : e}`);
    process.exit(2);
  }
  const fleet = await startFleet({
    controllerUrl: values.controller,
    joinToken,
    dataDir: values["data-dir"] ?? path.join(REPO, "data", "fleet"),
    fleet: fleetSpec,
    agentBundle: values["agent-bundle"],
    heartbeatMs: values["heartbeat-ms"] ? Number(values["heartbeat-ms"]) : undefined,
    stopVms: !values["keep-vms"],
    strict: values.strict,
    controllerCa: values["controller-ca"],
    agentArgs: values["insecure-http"] ? ["--insecure-http"] : [],
    externalBridge: !values["no-external-bridge"],
  });
  console.log(JSON.stringify({ agents: fleet.agents, errors: fleet.errors, ovs: fleet.ovs }, null, 2));
  if (fleet.agents.length === 0) {
    await fleet.stop();
    process.exit(1);
  }
  console.log("[fleet] running; Ctrl-C stops the agents, their VMs and OVS");
  setInterval(() => {}, 1 << 30); // keep alive until a signal
}
