// Wires the agent together: facts -> VM manager (re-attach) -> API server -> controller loop.
// Kept apart from main.ts so tests can start and stop a whole agent in-process.
import fsp from "node:fs/promises";
import type { HostFacts } from "../../lib/schemas/agent-api";
import { closeServer, createAgentServer, listen, TokenVerifier } from "./api";
import { type AgentConfig, ConfigError } from "./config";
import { AgentTls, ControllerClient, fingerprintOf, readTrust, serverSecureContext, TrustError } from "./controller";
import { ensureWatchdog, LeaseKeeper, stopWatchdog, waitForWatchdog } from "./fence";
import { describeCapabilities, detectFacts, MetricsSampler, UsageSampler, which } from "./host";
import { ImageCache } from "./images";
import { DhcpService, GatewayNamespaces, Ovs, OvsNetwork, RouterService } from "./network";
import type { Logger } from "./util";
import { VmManager } from "./vm";

export interface RunningAgent {
  facts: HostFacts;
  port: number;
  url: string;
  client: ControllerClient | null;
  manager: VmManager;
  /** the fence watchdog's pid once it checks (ADR 036); null when none was started or it failed */
  watchdog: Promise<number | null>;
  /** stops serving and heartbeating; VMs keep running (and so does the fence watchdog, unless told) */
  stop(): Promise<void>;
}

export interface StartAgentOptions {
  /**
   * The agent bundle (dist/agent.mjs, main.ts passes process.argv[1]) whose `fence-watchdog`
   * subcommand runs the watchdog, with cfg.nodeCommand. Absent: no watchdog (in-process tests).
   */
  watchdogEntry?: string;
  /** stop() stops the watchdog too (tests: leave no process behind); a real agent never does */
  stopWatchdogOnStop?: boolean;
}

/**
 * The fence watchdog runs beside the agent with a controller (the lease comes from it). Started
 * detached and left running when the agent stops: a crashed agent must still fence (ADR 036).
 */
async function startFenceWatchdog(cfg: AgentConfig, entry: string, log: Logger): Promise<number | null> {
  try {
    const { pid, started } = ensureWatchdog({ stateDir: cfg.stateDir, nodeCommand: cfg.nodeCommand, entry });
    if (!started) {
      log("info", "fence.watchdog_running", { pid });
      return pid;
    }
    // qemu-user takes seconds to start Node: wait, so a failure to start shows in this log.
    const ready = await waitForWatchdog(cfg.stateDir, 60_000);
    if (ready === null) log("error", "fence.watchdog_failed", { pid, see: `${cfg.stateDir}/fence/watchdog.log` });
    else log("info", "fence.watchdog_started", { pid: ready });
    return ready;
  } catch (e) {
    log("error", "fence.watchdog_failed", { error: e });
    return null;
  }
}

/**
 * DHCP per network (ADR 057): --dhcp on|auto with dnsmasq installed; auto also needs root (namespaces).
 * Without it guests get their address from cloud-init or the kernel command line, as before.
 */
function createDhcp(cfg: AgentConfig, ovs: Ovs, namespaces: GatewayNamespaces, log: Logger): DhcpService | null {
  if (cfg.dhcp === "off") return null;
  const dnsmasq = which("dnsmasq");
  const root = process.getuid?.() === 0;
  if (!dnsmasq || (cfg.dhcp === "auto" && !root)) {
    const why = !dnsmasq ? "dnsmasq not found (apt install dnsmasq-base)" : "not running as root";
    log(cfg.dhcp === "on" ? "warn" : "info", "dhcp.unavailable", { reason: why });
    return null;
  }
  log("info", "dhcp.enabled", { dnsmasq, bridge: cfg.bridge });
  const setpriv = which("setpriv");
  return new DhcpService({ bridge: cfg.bridge, ovs, namespaces, stateDir: cfg.stateDir, dnsmasq, setpriv, log });
}

/**
 * Routers, SNAT and floating IPs (ADR 058) in the VLANs' namespaces: only with --external-bridge (the
 * uplink), nft and root; otherwise PUT /v1/routers/:vlan answers 409 "this host has no external network".
 */
function createRouters(cfg: AgentConfig, ovs: Ovs, namespaces: GatewayNamespaces, log: Logger): RouterService {
  let external: { bridge: string; vlan: number } | null = null;
  if (cfg.externalBridge) {
    const why = !which("nft")
      ? "nft not found (apt install nftables)"
      : process.getuid?.() !== 0
        ? "not running as root"
        : !which("sysctl")
          ? "sysctl not found"
          : null;
    if (why) log("warn", "router.unavailable", { reason: why, externalBridge: cfg.externalBridge });
    else {
      external = { bridge: cfg.externalBridge, vlan: cfg.externalVlan ?? 0 };
      log("info", "router.enabled", { externalBridge: external.bridge, externalVlan: external.vlan });
      ovs
        .ensureBridge(external.bridge)
        .catch((e) => log("warn", "ovs.bridge_failed", { bridge: external?.bridge, error: e }));
    }
  }
  return new RouterService({ namespaces, ovs, external, stateDir: cfg.stateDir, log });
}

export async function startAgent(cfg: AgentConfig, log: Logger, opts: StartAgentOptions = {}): Promise<RunningAgent> {
  await fsp.mkdir(cfg.stateDir, { recursive: true, mode: 0o700 });
  const facts = await detectFacts({
    stateDir: cfg.stateDir,
    machineId: cfg.machineId,
    kvm: cfg.kvm,
    ovsDb: cfg.ovsDb,
    ovsDatapath: cfg.ovsDatapath,
  });
  log("info", "agent.facts", {
    arch: facts.arch,
    machineId: facts.machineId,
    cpus: facts.cpuCount,
    cpuModel: facts.cpuModel,
    memoryMb: facts.memoryMb,
    kvm: facts.kvm,
    qemu: facts.qemu.version,
    ovs: facts.ovs,
    canRun: describeCapabilities(facts),
  });

  let network: OvsNetwork | undefined;
  let dhcp: DhcpService | null = null;
  let routers: RouterService | null = null;
  if (facts.ovs.available && facts.ovs.datapath) {
    const ovs = new Ovs({ db: cfg.ovsDb, datapath: facts.ovs.datapath, log });
    // The VLANs' namespaces (gateway address) are shared by DHCP and the routers (ADR 057, 058).
    const namespaces = new GatewayNamespaces({ bridge: cfg.bridge, ovs, log });
    dhcp = createDhcp(cfg, ovs, namespaces, log);
    routers = createRouters(cfg, ovs, namespaces, log);
    network = new OvsNetwork(ovs, cfg.bridge, log, dhcp);
    // In the background: a missing ovs-vswitchd must not block the API; NIC creation retries it.
    network.ensureBridge().catch((e) => log("warn", "ovs.bridge_failed", { bridge: cfg.bridge, error: e }));
  } else {
    log("warn", "ovs.unavailable", {
      ovsDb: cfg.ovsDb ?? "system",
      note: "no reachable Open vSwitch: VMs with NICs will be refused",
    });
  }
  // Reported with the facts (registration and heartbeats): the controller pushes routers only to hosts
  // with an external network (ADR 058).
  facts.network = { dhcp: dhcp !== null, externalNetwork: routers?.externalNetwork ?? false };

  const tokens = new TokenVerifier();
  tokens.set(cfg.apiToken);
  let client: ControllerClient | null = null;
  // TLS unless --insecure-http: our key, the CA we trust, our certificate once registered (docs/decisions/017-agent-tls.md).
  let agentTls: AgentTls | null = null;
  if (!cfg.insecureHttp && cfg.controller) {
    try {
      agentTls = await AgentTls.open(
        cfg.stateDir,
        await readTrust({ controllerCaFile: cfg.controllerCa, controllerFingerprint: cfg.controllerFingerprint }),
      );
    } catch (e) {
      if (e instanceof TrustError || (e as NodeJS.ErrnoException).code === "ENOENT")
        throw new ConfigError((e as Error).message);
      throw e;
    }
  }
  // usersOf runs only after `manager` below exists (list/evict are served after init).
  const images: ImageCache | null = cfg.controller
    ? new ImageCache({
        stateDir: cfg.stateDir,
        controllerUrl: cfg.controller,
        getToken: () => client?.token ?? null,
        log,
        ...(agentTls ? { fetch: agentTls.fetch } : {}),
        usersOf: () => manager.imageUsers(),
        ...(cfg.imageCacheMaxGb !== undefined ? { maxBytes: Math.floor(cfg.imageCacheMaxGb * 1024 ** 3) } : {}),
      })
    : null;

  const manager: VmManager = new VmManager({
    stateDir: cfg.stateDir,
    hostArch: facts.arch,
    kvm: facts.kvm,
    qemuBinaries: facts.qemu.binaries,
    firmware: facts.qemu.firmware,
    machines: facts.machines,
    resolveImage: async (boot) => {
      if (!images) throw new Error("no controller configured to download images from");
      return images.resolve(boot);
    },
    network,
    hostLimits: { cpuCount: facts.cpuCount, memoryMb: facts.memoryMb },
    log: (msg, ctx) => log("info", "vm.event", { msg, ...ctx }),
  });
  try {
    await manager.init(); // re-secures recorded ports: their NICs register with DHCP again
  } catch (e) {
    await dhcp?.stop();
    throw e;
  }
  // The routers of the last run come back (their specs are in <state-dir>/routers/); failures are logged.
  if (routers?.externalNetwork) await routers.restore();
  const vmsAtStart = await manager.list();
  log("info", "agent.vms_reattached", {
    count: vmsAtStart.length,
    running: vmsAtStart.filter((v) => v.powerState === "running").length,
  });

  const usage = new UsageSampler(cfg.stateDir);
  // Baseline now, so the first heartbeat already carries a window's worth of CPU samples.
  const metrics = new MetricsSampler();
  await metrics.sample(vmsAtStart).catch(() => null);
  const server = createAgentServer({
    facts: () => facts,
    usage: () => usage.sample(),
    vms: manager,
    ...(network ? { firewall: network } : {}),
    ...(routers ? { routers } : {}),
    images,
    auth: tokens,
    log,
    health: () => ({
      registered: Boolean(client?.identity),
      hostId: client?.identity?.hostId ?? null,
      externalNetwork: routers?.externalNetwork ?? false,
    }),
    tls: agentTls ? { context: agentTls.material ? serverSecureContext(agentTls.key, agentTls.material) : null } : null,
    acceptToken: async (t) => {
      if (!client) throw new Error("no controller");
      await client.acceptToken(t);
    },
  });
  if (agentTls) {
    const t = agentTls;
    // A new certificate (registration) applies to new connections at once.
    t.onChange = (m) => {
      (server as import("node:https").Server).setSecureContext(serverSecureContext(t.key, m));
      log("info", "tls.certificate_installed", {
        certFingerprint: fingerprintOf(m.certPem),
        caFingerprint: fingerprintOf(m.caPem),
      });
    };
  }
  let addr;
  try {
    addr = await listen(server, cfg.listen.host, cfg.listen.port);
  } catch (e) {
    await manager.close();
    await routers?.stop();
    await dhcp?.stop();
    throw e;
  }
  // --listen HOST:0 (tests, fleet scripts): advertise the port the kernel actually gave us.
  const agentUrl = cfg.listen.port === 0 ? cfg.advertiseUrl.replace(/:0$/, `:${addr.port}`) : cfg.advertiseUrl;
  log("info", "agent.listening", { address: `${addr.address}:${addr.port}`, advertiseUrl: agentUrl });

  let nudgeTimer: NodeJS.Timeout | null = null;
  let watchdog: Promise<number | null> = Promise.resolve(null);
  if (cfg.controller) {
    client = new ControllerClient({
      controllerUrl: cfg.controller,
      stateDir: cfg.stateDir,
      joinToken: cfg.joinToken,
      agentUrl,
      getFacts: () => facts,
      getUsage: () => usage.sample(),
      listVms: () => manager.list(),
      ...(images ? { listImages: () => images.list() } : {}),
      getMetrics: (vms) => metrics.sample(vms),
      onToken: (t) => tokens.set(t, cfg.apiToken),
      lease: new LeaseKeeper(cfg.stateDir),
      evict: (id, generation) => manager.evict(id, generation),
      tls: agentTls,
      log,
      heartbeatMs: cfg.heartbeatMs,
      fixedHeartbeat: cfg.heartbeatMs !== undefined,
    });
    const identity = await client.loadIdentity();
    if (!identity && !cfg.joinToken) {
      await closeServer(server);
      await manager.close();
      await routers?.stop();
      await dhcp?.stop();
      throw new ConfigError(
        `no identity in ${cfg.stateDir}/identity.json for this controller: pass --join-token-file (or POLYARCH_JOIN_TOKEN) to register`,
      );
    }
    if (identity) log("info", "agent.identity_loaded", { hostId: identity.hostId });
    // In the background: under qemu-user Node takes seconds to start, the API need not wait.
    if (opts.watchdogEntry) watchdog = startFenceWatchdog(cfg, opts.watchdogEntry, log);
    client.start();
    // VM state changes reach the controller in the next heartbeat; pull it forward (coalesced).
    manager.on("change", () => {
      if (nudgeTimer) return;
      nudgeTimer = setTimeout(() => {
        nudgeTimer = null;
        client?.nudge();
      }, 300);
    });
  }

  let stopping: Promise<void> | null = null;
  return {
    facts,
    port: addr.port,
    url: agentUrl,
    client,
    manager,
    watchdog,
    stop: () =>
      (stopping ??= (async () => {
        if (nudgeTimer) clearTimeout(nudgeTimer);
        await client?.stop();
        await closeServer(server);
        await manager.close(); // detaches from QMP; QEMU processes keep running
        // DHCP stops with the agent (namespaces and veths removed); the next start brings it back (resecurePorts).
        // Routers too (their specs stay in the state dir and come back at the next start).
        await routers?.stop();
        await dhcp?.stop();
        if (opts.stopWatchdogOnStop && (await watchdog) !== null && !(await stopWatchdog(cfg.stateDir)))
          log("warn", "fence.watchdog_stop_failed", { stateDir: cfg.stateDir });
      })()),
  };
}
