// DHCP per network (ADR 057): per VLAN with at least one NIC that has an IPAM address, one dnsmasq in
// its own network namespace, plugged into the host's OVS bridge by a veth pair (outer end: access port
// tagged with the VLAN; inner end: the network's gateway address), shared with the router (ADR 058,
// router-netns.ts). It answers exactly the NICs' MACs with their addresses. Supervised: restarted with backoff when it exits; the VLAN's namespace, veth
// and process go with its last NIC, and all of them on stop(). Every call is serialised.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { type Logger, pidAlive, processArgv, silentLogger } from "../util";
import {
  type DhcpNames,
  type DhcpNic,
  type DhcpSubnet,
  dhcpNames,
  dnsmasqArgs,
  type DnsmasqFiles,
  renderHostsfile,
  validateDhcpNic,
} from "./dhcp-config";
import { GatewayNamespaces } from "./router-netns";

/** The switch operations the service needs (Ovs implements them; no import of ovs.ts: no cycle). */
export interface DhcpSwitch {
  addPort(bridge: string, port: string, vlan: number, externalIds?: Record<string, string>): Promise<void>;
  removePort(bridge: string, port: string): Promise<void>;
  ofctl(cmd: string, bridge: string, rest?: string[]): Promise<unknown>;
}

export interface DhcpServiceOptions {
  bridge: string;
  ovs: DhcpSwitch;
  /** the agent's state dir: files go to <stateDir>/dhcp/<netns>/ */
  stateDir: string;
  /** absolute path of dnsmasq */
  dnsmasq: string;
  /**
   * absolute path of util-linux setpriv: dnsmasq then gets --pdeathsig KILL, so a killed agent leaves
   * no dnsmasq behind (its namespace and veth are removed by the next start's setup). Optional.
   */
  setpriv?: string | null;
  log?: Logger;
  /** the per-VLAN namespaces, shared with the router service (ADR 058); default: the service's own */
  namespaces?: GatewayNamespaces;
  /** first restart delay; doubles per quick exit up to maxBackoffMs */
  backoffMs?: number;
  maxBackoffMs?: number;
}

interface VlanState {
  subnet: DhcpSubnet;
  names: DhcpNames;
  dir: string;
  files: DnsmasqFiles;
  nics: Map<string, DhcpNic>;
  proc: ChildProcess | null;
  restartTimer: NodeJS.Timeout | null;
  backoffMs: number;
  startedAt: number;
  restarts: number;
}

const nicKey = (vmId: string, nicId: string) => `${vmId}/${nicId}`;

export class DhcpService {
  private readonly vlans = new Map<number, VlanState>();
  private chain: Promise<unknown> = Promise.resolve();
  private stopped = false;
  private readonly log: Logger;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly namespaces: GatewayNamespaces;

  constructor(private readonly opts: DhcpServiceOptions) {
    this.log = opts.log ?? silentLogger;
    this.namespaces = opts.namespaces ?? new GatewayNamespaces({ bridge: opts.bridge, ovs: opts.ovs, log: this.log });
    if (this.namespaces.bridge !== opts.bridge)
      throw new Error(`the namespaces are on bridge ${this.namespaces.bridge}, DHCP on ${opts.bridge}`);
    this.backoffMs = opts.backoffMs ?? 1_000;
    this.maxBackoffMs = opts.maxBackoffMs ?? 30_000;
    dhcpNames(opts.bridge, 0); // validates the bridge name
    if (!path.isAbsolute(opts.dnsmasq)) throw new Error(`dnsmasq must be an absolute path, got "${opts.dnsmasq}"`);
  }

  /** Runs `fn` after every earlier call has finished (register/unregister/stop never interleave). */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => {});
    return next;
  }

  /** Serves `nic` (idempotent; a changed MAC/IP replaces the old entry). Throws on invalid input or setup failure. */
  register(nic: DhcpNic): Promise<void> {
    validateDhcpNic(nic);
    return this.serial(async () => {
      if (this.stopped) return;
      const key = nicKey(nic.vmId, nic.nicId);
      // A NIC that moved to another VLAN leaves the old one first.
      for (const [vlan, st] of this.vlans) if (vlan !== nic.vlan && st.nics.has(key)) await this.dropNic(vlan, key);
      let st = this.vlans.get(nic.vlan);
      if (st && (st.subnet.gateway !== nic.gateway || st.subnet.prefixLength !== nic.prefixLength)) {
        throw new Error(
          `VLAN ${nic.vlan} is served as ${st.subnet.gateway}/${st.subnet.prefixLength}; ` +
            `NIC ${key} wants ${nic.gateway}/${nic.prefixLength}`,
        );
      }
      const before = st ? renderHostsfile(st.nics.values()) : null;
      if (!st) {
        st = this.newState(nic);
        st.nics.set(key, { ...nic });
        this.vlans.set(nic.vlan, st);
        try {
          await this.setUp(st);
        } catch (e) {
          this.vlans.delete(nic.vlan);
          await this.tearDown(st).catch(() => {});
          throw e;
        }
        return;
      }
      st.nics.set(key, { ...nic });
      if (renderHostsfile(st.nics.values()) !== before) this.reload(st);
    });
  }

  /** Stops serving a NIC; the VLAN's dnsmasq, namespace and veth go with its last NIC. Idempotent. */
  unregister(vmId: string, nicId: string): Promise<void> {
    return this.serial(async () => {
      const key = nicKey(vmId, nicId);
      for (const [vlan, st] of [...this.vlans]) if (st.nics.has(key)) await this.dropNic(vlan, key);
    });
  }

  /** Stops every dnsmasq and removes every namespace and veth (agent stop). No register works after. */
  stop(): Promise<void> {
    this.stopped = true;
    return this.serial(async () => {
      for (const [vlan, st] of [...this.vlans]) {
        this.vlans.delete(vlan);
        await this.tearDown(st).catch((e) => this.log("warn", "dhcp.teardown_failed", { vlan, error: e }));
      }
    });
  }

  /** What runs, for diagnostics and tests. */
  status(): { vlan: number; netns: string; pid: number | null; nics: number; restarts: number }[] {
    return [...this.vlans.values()].map((st) => ({
      vlan: st.subnet.vlan,
      netns: st.names.netns,
      pid: st.proc?.pid ?? null,
      nics: st.nics.size,
      restarts: st.restarts,
    }));
  }

  private newState(nic: DhcpNic): VlanState {
    const names = dhcpNames(this.opts.bridge, nic.vlan);
    const dir = path.join(this.opts.stateDir, "dhcp", names.netns);
    return {
      subnet: { vlan: nic.vlan, gateway: nic.gateway, prefixLength: nic.prefixLength },
      names,
      dir,
      files: {
        hostsfile: path.join(dir, "hosts"),
        leasefile: path.join(dir, "leases"),
        pidfile: path.join(dir, "dnsmasq.pid"),
      },
      nics: new Map(),
      proc: null,
      restartTimer: null,
      backoffMs: this.backoffMs,
      startedAt: 0,
      restarts: 0,
    };
  }

  private async dropNic(vlan: number, key: string): Promise<void> {
    const st = this.vlans.get(vlan);
    if (!st?.nics.delete(key)) return;
    if (st.nics.size > 0) {
      this.reload(st);
      return;
    }
    this.vlans.delete(vlan);
    await this.tearDown(st);
  }

  private writeHostsfile(st: VlanState): void {
    const tmp = `${st.files.hostsfile}.tmp`;
    fs.writeFileSync(tmp, renderHostsfile(st.nics.values()), { mode: 0o600 });
    fs.renameSync(tmp, st.files.hostsfile);
  }

  /** New hostsfile, then SIGHUP: dnsmasq re-reads it (no restart, leases kept). */
  private reload(st: VlanState): void {
    this.writeHostsfile(st);
    const pid = st.proc?.pid;
    if (pid && st.proc?.exitCode === null && st.proc.signalCode === null) {
      try {
        process.kill(pid, "SIGHUP");
      } catch {
        /* exiting: the restart reads the new file */
      }
    }
    this.log("info", "dhcp.hosts_updated", { vlan: st.subnet.vlan, nics: st.nics.size });
  }

  /** The VLAN's namespace (shared with a router) + dnsmasq; a dnsmasq of an earlier agent run is killed first. */
  private async setUp(st: VlanState): Promise<void> {
    await this.killLeftover(st);
    await this.namespaces.acquire(st.subnet, "dhcp");
    fs.mkdirSync(st.dir, { recursive: true, mode: 0o700 });
    this.writeHostsfile(st);
    await this.spawn(st);
    this.log("info", "dhcp.started", {
      vlan: st.subnet.vlan,
      netns: st.names.netns,
      gateway: `${st.subnet.gateway}/${st.subnet.prefixLength}`,
      pid: st.proc?.pid ?? null,
    });
  }

  /** Starts dnsmasq in the namespace and waits until it has written its pid file (it is serving then). */
  private async spawn(st: VlanState): Promise<void> {
    fs.rmSync(st.files.pidfile, { force: true });
    const argv = [
      "ip",
      "netns",
      "exec",
      st.names.netns,
      this.opts.dnsmasq,
      ...dnsmasqArgs(st.subnet, st.names, st.files),
    ];
    if (this.opts.setpriv) argv.unshift(this.opts.setpriv, "--pdeathsig", "KILL", "--");
    // setpriv and `ip netns exec` exec the next program: the child's pid is dnsmasq's.
    const proc = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "ignore", "pipe"] });
    st.proc = proc;
    st.startedAt = Date.now();
    let tail = "";
    proc.stderr!.on("data", (c: Buffer) => {
      tail = (tail + c.toString()).slice(-2000);
      for (const line of c.toString().split("\n").filter(Boolean))
        this.log("debug", "dhcp.dnsmasq", { vlan: st.subnet.vlan, line: line.slice(0, 300) });
    });
    proc.on("error", () => {}); // reported by 'exit' / the wait below
    proc.on("exit", (code, signal) => this.onExit(st, proc, code, signal, tail));
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null || proc.signalCode !== null)
        throw new Error(`dnsmasq exited at start (${proc.exitCode ?? proc.signalCode}): ${tail.trim().slice(-500)}`);
      const pid = Number(fs.existsSync(st.files.pidfile) ? fs.readFileSync(st.files.pidfile, "utf8").trim() : NaN);
      if (pid === proc.pid) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`dnsmasq did not start within 10 s: ${tail.trim().slice(-500)}`);
  }

  private onExit(st: VlanState, proc: ChildProcess, code: number | null, signal: string | null, tail: string): void {
    if (st.proc !== proc) return; // stopped on purpose, or replaced
    st.proc = null;
    if (this.stopped || this.vlans.get(st.subnet.vlan) !== st) return;
    // A run of a minute or more was healthy: start again quickly; quick exits back off.
    if (Date.now() - st.startedAt > 60_000) st.backoffMs = this.backoffMs;
    this.log("warn", "dhcp.dnsmasq_exited", { vlan: st.subnet.vlan, code, signal, stderr: tail.trim().slice(-300) });
    this.scheduleRestart(st);
  }

  private scheduleRestart(st: VlanState): void {
    if (st.restartTimer || this.stopped) return;
    const delay = st.backoffMs;
    st.backoffMs = Math.min(st.backoffMs * 2, this.maxBackoffMs);
    this.log("info", "dhcp.restart_scheduled", { vlan: st.subnet.vlan, inMs: delay });
    st.restartTimer = setTimeout(() => {
      st.restartTimer = null;
      void this.serial(async () => {
        if (this.stopped || this.vlans.get(st.subnet.vlan) !== st || st.proc) return;
        st.restarts++;
        try {
          await this.spawn(st);
          const pid = (st.proc as ChildProcess | null)?.pid ?? null; // set by spawn
          this.log("info", "dhcp.restarted", { vlan: st.subnet.vlan, pid, restarts: st.restarts });
        } catch (e) {
          this.log("warn", "dhcp.restart_failed", { vlan: st.subnet.vlan, error: e });
          // A process that exited has scheduled the next try already; one that hangs is replaced.
          await this.stopProcess(st);
          this.scheduleRestart(st);
        }
      });
    }, delay);
    st.restartTimer.unref?.();
  }

  private async stopProcess(st: VlanState): Promise<void> {
    if (st.restartTimer) clearTimeout(st.restartTimer);
    st.restartTimer = null;
    const proc = st.proc;
    st.proc = null;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((r) => proc.once("exit", () => r()));
    proc.kill("SIGTERM");
    const timer = setTimeout(() => proc.kill("SIGKILL"), 3_000);
    await exited;
    clearTimeout(timer);
  }

  /** A dnsmasq left by an earlier agent run (pid file, verified by /proc). */
  private async killLeftover(st: VlanState): Promise<void> {
    const pid = Number(fs.existsSync(st.files.pidfile) ? fs.readFileSync(st.files.pidfile, "utf8").trim() : NaN);
    if (Number.isInteger(pid) && pidAlive(pid) && (processArgv(pid) ?? []).includes(`--pid-file=${st.files.pidfile}`)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        /* gone */
      }
      for (let i = 0; i < 40 && pidAlive(pid); i++) await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** dnsmasq stops; the namespace, veth and OVS port go unless the router still holds them. */
  private async tearDown(st: VlanState): Promise<void> {
    await this.stopProcess(st);
    await this.killLeftover(st);
    await this.namespaces.release(st.subnet.vlan, "dhcp");
    fs.rmSync(st.dir, { recursive: true, force: true });
    this.log("info", "dhcp.stopped", { vlan: st.subnet.vlan, netns: st.names.netns });
  }
}
