// Open vSwitch driver: one bridge per host, one tap per VM NIC, VLAN tag on the port.
// Everything goes through ovs-vsctl / ip with argv arrays; `--may-exist` / `--if-exists` make
// every call safe to repeat (the agent re-applies specs after restarts).
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { PortFirewall } from "../../../lib/schemas/security-groups";
import { ExecError, type Logger, run, silentLogger } from "../util";
import type { DhcpService } from "./dhcp";
import { dhcpClientFlows } from "./dhcp-config";
import { baseFlows } from "./firewall";
import { applyPortFirewall, recordedFirewall, removePortFirewall } from "./ovs-firewall";
import { portSecurityCookie, portSecurityFlows, type PortAddress } from "./port-security";

/** Linux interface names: at most 15 bytes (IFNAMSIZ-1); we also refuse a leading '-' (argv option injection). */
const IFNAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/;

export function assertIfName(name: string, what = "interface"): void {
  if (!IFNAME_RE.test(name))
    throw new Error(`invalid ${what} name "${name}": 1-15 of letters, digits, '_', '.', '-' (not first)`);
}

/**
 * Deterministic tap name for a VM NIC: the agent must find the same tap again after a restart
 * without extra state. "pa" + 12 hex of sha256(vmId/nicId) = 14 chars, 48 bits: collisions are
 * negligible for the few thousand NICs of one host.
 */
export function tapName(vmId: string, nicId: string): string {
  return "pa" + crypto.createHash("sha256").update(`${vmId}/${nicId}`).digest("hex").slice(0, 12);
}

export interface OvsOptions {
  /** ovs-vsctl --db argument, e.g. unix:/run/pa-ovs/db.sock for a private instance; default: the system one */
  db?: string;
  /** datapath for new bridges; "netdev" = userspace (works without the openvswitch kernel module) */
  datapath: "system" | "netdev";
  /**
   * ovs-vswitchd's run dir (where <bridge>.mgmt, the OpenFlow socket ovs-ofctl talks to, lives).
   * Default: the directory of a unix: db socket (both live in OVS_RUNDIR, as with the system OVS and
   * agent/src/testing/ovs-instance.ts); with no db, ovs-ofctl's own default.
   */
  rundir?: string;
  timeoutMs?: number;
  log?: Logger;
}

export class OvsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OvsError";
  }
}

export class Ovs {
  readonly db?: string;
  readonly datapath: "system" | "netdev";
  readonly rundir?: string;
  private readonly timeoutMs: number;
  private readonly log: Logger;

  constructor(opts: OvsOptions) {
    if (opts.db !== undefined && !/^(unix:\/|tcp:127\.0\.0\.1:|ssl:127\.0\.0\.1:)/.test(opts.db)) {
      // Safety: only local databases (unix socket or loopback).
      throw new Error(`ovs db must be unix:/path or tcp:127.0.0.1:port, got "${opts.db}"`);
    }
    this.db = opts.db;
    this.datapath = opts.datapath;
    this.rundir =
      opts.rundir ?? (opts.db?.startsWith("unix:/") ? path.dirname(opts.db.slice("unix:".length)) : undefined);
    this.timeoutMs = opts.timeoutMs ?? 20_000;
    this.log = opts.log ?? silentLogger;
  }

  /** Runs ovs-vsctl; returns [stdout, stderr]. `--timeout` keeps it from waiting forever for a dead ovs-vswitchd. */
  async vsctl(args: string[]): Promise<{ stdout: string; stderr: string }> {
    const secs = Math.max(1, Math.floor(this.timeoutMs / 1000) - 2);
    const full = [...(this.db ? [`--db=${this.db}`] : []), `--timeout=${secs}`, ...args];
    return run("ovs-vsctl", full, { timeoutMs: this.timeoutMs });
  }

  /** Runs `ovs-ofctl <cmd> <bridge's OpenFlow socket> ...rest` with a timeout. */
  async ofctl(cmd: string, bridge: string, rest: string[] = []): Promise<{ stdout: string; stderr: string }> {
    assertIfName(bridge, "bridge");
    const secs = Math.max(1, Math.floor(this.timeoutMs / 1000) - 2);
    const target = this.rundir ? `unix:${path.join(this.rundir, `${bridge}.mgmt`)}` : bridge;
    return run("ovs-ofctl", [`--timeout=${secs}`, cmd, target, ...rest], { timeoutMs: this.timeoutMs });
  }

  /**
   * Runs `ovs-ofctl [--bundle] <cmd> <bridge> <file>` with `lines` written to a private temporary file:
   * with --bundle the whole file is one OpenFlow transaction (all or nothing, no half-applied state).
   */
  async ofctlFile(cmd: string, bridge: string, lines: string[], opts: { bundle?: boolean } = {}): Promise<void> {
    assertIfName(bridge, "bridge");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pa-flows-"));
    const file = path.join(dir, "flows");
    try {
      fs.writeFileSync(file, lines.join("\n") + "\n", { mode: 0o600 });
      const secs = Math.max(1, Math.floor(this.timeoutMs / 1000) - 2);
      const target = this.rundir ? `unix:${path.join(this.rundir, `${bridge}.mgmt`)}` : bridge;
      const flags = [`--timeout=${secs}`, ...(opts.bundle ? ["--bundle"] : [])];
      await run("ovs-ofctl", [...flags, cmd, target, file], { timeoutMs: this.timeoutMs });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  /** The OpenFlow port number of an interface (what flows match as in_port). */
  async ofport(port: string): Promise<number> {
    assertIfName(port, "port");
    const { stdout } = await this.vsctl(["get", "interface", port, "ofport"]);
    const n = Number(stdout.trim());
    if (!Number.isInteger(n) || n < 1)
      throw new OvsError(`OVS port ${port} has no OpenFlow port number (${stdout.trim()})`);
    return n;
  }

  /**
   * Lets `port` send only from `addr` (port-security.ts, ADR 028). Clears leftovers of a former port
   * with the same number, then installs the drop rule before the allow rules, so at no point does
   * the port send more than it may once this returns. Idempotent.
   */
  async securePort(bridge: string, port: string, addr: PortAddress): Promise<void> {
    const ofport = await this.ofport(port);
    const flows = portSecurityFlows(port, ofport, addr);
    await this.ofctl("del-flows", bridge, [`in_port=${ofport}`]);
    for (const flow of flows) await this.ofctl("add-flow", bridge, [flow]);
    this.log("info", "ovs.port.secured", { bridge, port, ofport, mac: addr.mac, ip: addr.ip ?? null });
  }

  /** Removes exactly the port-security rules of `port` (by cookie). Idempotent. */
  async unsecurePort(bridge: string, port: string): Promise<void> {
    assertIfName(port, "port");
    try {
      await this.ofctl("del-flows", bridge, [`cookie=${portSecurityCookie(port)}/-1`]);
    } catch (e) {
      if (await this.bridgeExists(bridge)) throw e; // no bridge, no rules: nothing to remove
    }
  }

  async version(): Promise<string | null> {
    try {
      const { stdout } = await run("ovs-vsctl", ["--version"], { timeoutMs: 5_000 });
      return /\(Open vSwitch\)\s+(\S+)/.exec(stdout)?.[1] ?? null;
    } catch {
      return null;
    }
  }

  async bridgeExists(name: string): Promise<boolean> {
    assertIfName(name, "bridge");
    try {
      await this.vsctl(["br-exists", name]);
      return true;
    } catch (e) {
      if (e instanceof ExecError && e.exitCode === 2) return false;
      throw e;
    }
  }

  async listBridges(): Promise<string[]> {
    const { stdout } = await this.vsctl(["list-br"]);
    return stdout
      .split("\n")
      .map((s) => s.trim())
      .filter(Boolean);
  }

  async listPorts(bridge: string): Promise<string[]> {
    assertIfName(bridge, "bridge");
    const { stdout } = await this.vsctl(["list-ports", bridge]);
    return stdout
      .split("\n")
      .map((s) => s.trim())
      .filter(Boolean);
  }

  /**
   * ovs-vsctl exits 0 even when ovs-vswitchd failed to set an interface up (e.g. a `system`
   * bridge without the kernel module); the truth is in the Interface table: a non-empty `error`
   * or an `ofport` of -1 / unset.
   */
  async interfaceError(name: string, stderr = ""): Promise<string | null> {
    const { stdout } = await this.vsctl(["get", "interface", name, "error", "ofport"]);
    const [errLine = "", ofportLine = ""] = stdout.split("\n").map((s) => s.trim());
    const err = errLine === "[]" || errLine === "" ? null : errLine.replace(/^"|"$/g, "");
    if (err) return err;
    const ofport = ofportLine === "[]" || ofportLine === "" ? null : Number(ofportLine);
    if (ofport === null || ofport < 0) {
      const hint = /Error detected while setting up[^\n]*/.exec(stderr)?.[0];
      return (
        hint ?? `interface ${name} has no OpenFlow port (ofport ${ofportLine || "unset"}); see the ovs-vswitchd log`
      );
    }
    return null;
  }

  /** Creates (or fixes up) a bridge with the configured datapath and verifies vswitchd really opened it. */
  async ensureBridge(name: string): Promise<void> {
    assertIfName(name, "bridge");
    const args = ["--may-exist", "add-br", name];
    // Always set the datapath: repairs a bridge that was first created with the wrong one.
    args.push("--", "set", "bridge", name, `datapath_type=${this.datapath === "netdev" ? "netdev" : "system"}`);
    const { stderr } = await this.vsctl(args);
    const err = await this.interfaceError(name, stderr);
    if (err) {
      const why =
        this.datapath === "system"
          ? ` (the kernel datapath needs the openvswitch kernel module; use the userspace datapath: datapath_type=netdev)`
          : "";
      throw new OvsError(`OVS bridge ${name} is not working: ${err}${why}`);
    }
    // The security-group pipeline's table-miss flows (firewall.ts): without them a secured port's
    // traffic, sent on to table 10, would be dropped.
    await this.ofctlFile("add-flows", name, baseFlows(), { bundle: true });
    this.log("info", "ovs.bridge.ready", { bridge: name, datapath: this.datapath });
  }

  /** Adds an existing network device as a port, VLAN-tagged when vlan > 0 (access port). */
  async addPort(bridge: string, port: string, vlan: number, externalIds: Record<string, string> = {}): Promise<void> {
    assertIfName(bridge, "bridge");
    assertIfName(port, "port");
    if (!Number.isInteger(vlan) || vlan < 0 || vlan > 4094)
      throw new Error(`invalid VLAN ${vlan}: 0 (untagged) or 1..4094`);
    const args = ["--may-exist", "add-port", bridge, port];
    if (vlan > 0) args.push(`tag=${vlan}`);
    // --may-exist does not update an existing port: set tag explicitly so a changed VLAN applies.
    args.push("--", "set", "port", port, vlan > 0 ? `tag=${vlan}` : "tag=[]");
    const ids = Object.entries(externalIds);
    if (ids.length) {
      args.push("--", "set", "interface", port, ...ids.map(([k, v]) => `external_ids:${k}=${JSON.stringify(v)}`));
    }
    const { stderr } = await this.vsctl(args);
    const err = await this.interfaceError(port, stderr);
    if (err) throw new OvsError(`OVS port ${port} on ${bridge} is not working: ${err}`);
    this.log("info", "ovs.port.added", { bridge, port, vlan });
  }

  async removePort(bridge: string, port: string): Promise<void> {
    assertIfName(bridge, "bridge");
    assertIfName(port, "port");
    await this.vsctl(["--if-exists", "del-port", bridge, port]);
    this.log("info", "ovs.port.removed", { bridge, port });
  }

  async portTag(port: string): Promise<number> {
    assertIfName(port, "port");
    const { stdout } = await this.vsctl(["get", "port", port, "tag"]);
    const v = stdout.trim();
    return v === "[]" ? 0 : Number(v);
  }
}

// ---- tap devices ------------------------------------------------------------------------------

export function netDeviceExists(name: string): boolean {
  assertIfName(name);
  return fs.existsSync(`/sys/class/net/${name}`);
}

/** Persistent tap (survives the agent and QEMU restarts; QEMU attaches with ifname=). Idempotent. */
export async function createTap(name: string): Promise<void> {
  assertIfName(name, "tap");
  if (!netDeviceExists(name)) {
    try {
      await run("ip", ["tuntap", "add", "dev", name, "mode", "tap"], { timeoutMs: 10_000 });
    } catch (e) {
      if (!netDeviceExists(name)) throw e; // lost a race with ourselves: fine
    }
  }
  await run("ip", ["link", "set", "dev", name, "up"], { timeoutMs: 10_000 });
}

export async function deleteTap(name: string): Promise<void> {
  assertIfName(name, "tap");
  if (!netDeviceExists(name)) return;
  try {
    await run("ip", ["tuntap", "del", "dev", name, "mode", "tap"], { timeoutMs: 10_000 });
  } catch (e) {
    if (netDeviceExists(name)) throw e;
  }
}

// ---- the VmManager's network hook --------------------------------------------------------------

export interface NicLike {
  id: string;
  vlan: number;
  /** with a MAC the port gets port security (only this MAC, and `ip` if given, may send) */
  mac?: string;
  ip?: string;
  /** with ip and gateway: the NIC's subnet, served by the DHCP service (ADR 057) */
  prefixLength?: number;
  gateway?: string;
  /** the port's security-group firewall: null = none; undefined = what the port has recorded */
  firewall?: PortFirewall | null;
}

/** Implements VmManager's `network` option: one tap per NIC on one OVS bridge. */
export class OvsNetwork {
  private bridgeReady: Promise<void> | null = null;

  constructor(
    readonly ovs: Ovs,
    readonly bridge: string,
    private readonly log: Logger = silentLogger,
    /** DHCP per network (ADR 057): NICs with an IPAM address are registered as they are secured */
    readonly dhcp: DhcpService | null = null,
  ) {
    assertIfName(bridge, "bridge");
  }

  /** Ensures the bridge once per agent run; retried on the next call if it failed. */
  ensureBridge(): Promise<void> {
    if (!this.bridgeReady) {
      this.bridgeReady = this.ovs.ensureBridge(this.bridge).catch((e) => {
        this.bridgeReady = null;
        throw e;
      });
    }
    return this.bridgeReady;
  }

  async addPort(vmId: string, nic: NicLike): Promise<string> {
    const tap = tapName(vmId, nic.id);
    await this.ensureBridge();
    const existed = netDeviceExists(tap);
    await createTap(tap);
    try {
      await this.ovs.addPort(this.bridge, tap, nic.vlan, {
        "polyarch-vm-id": vmId,
        "polyarch-nic-id": nic.id,
        ...(nic.mac ? { "attached-mac": nic.mac } : {}),
      });
      // Anti-spoofing and the security-group firewall before anything can send: ports are plugged while
      // the VM is not running. Without a firewall in the spec, a port plugged again keeps its recorded one.
      await this.securePort(vmId, nic, tap, nic.firewall);
    } catch (e) {
      // Clean up what this call created; an older tap may still be in use by a running QEMU.
      if (!existed) {
        await this.ovs.removePort(this.bridge, tap).catch(() => {});
        await deleteTap(tap).catch(() => {});
      }
      throw e;
    }
    this.log("info", "nic.attached", { vmId, nic: nic.id, tap, vlan: nic.vlan });
    return tap;
  }

  /**
   * Installs the rules of a plugged port: port security, then the security-group firewall `fw` (null:
   * none), or — undefined, as on agent restart — the one the port has recorded (it may be newer than the
   * spec: live changes go to the port). The port itself is left alone.
   */
  async securePort(vmId: string, nic: NicLike, tap?: string, fw?: PortFirewall | null): Promise<void> {
    if (!nic.mac) return;
    await this.ensureBridge();
    const port = tap ?? tapName(vmId, nic.id);
    await this.ovs.securePort(this.bridge, port, { mac: nic.mac, ...(nic.ip ? { ip: nic.ip } : {}) });
    // securePort cleared every flow of the port's number, its egress security-group flows too.
    const firewall = fw !== undefined ? fw : await recordedFirewall(this.ovs, port);
    if (firewall || fw === null) await applyPortFirewall(this.ovs, this.bridge, port, firewall, nic.mac);
    if (this.dhcp) await this.registerDhcp(vmId, nic, port);
  }

  /**
   * Lets the port take part in DHCP (its rules, with the port-security cookie) and registers the NIC
   * with the DHCP service when it has an address, prefix and gateway. Never throws: the guest still
   * has cloud-init or the kernel command line; a failure is logged.
   */
  private async registerDhcp(vmId: string, nic: NicLike, port: string): Promise<void> {
    if (!this.dhcp || !nic.mac) return;
    try {
      const flows = dhcpClientFlows(portSecurityCookie(port), await this.ovs.ofport(port), nic.mac, nic.ip);
      for (const flow of flows) await this.ovs.ofctl("add-flow", this.bridge, [flow]);
      if (nic.ip && nic.prefixLength !== undefined && nic.gateway) {
        const { mac, ip, prefixLength, gateway } = nic;
        await this.dhcp.register({ vmId, nicId: nic.id, vlan: nic.vlan, mac, ip, prefixLength, gateway });
      } else {
        await this.dhcp.unregister(vmId, nic.id);
      }
    } catch (e) {
      this.log("warn", "dhcp.register_failed", { vmId, nic: nic.id, vlan: nic.vlan, error: e });
    }
  }

  /**
   * Replaces the security-group firewall of a plugged NIC live (null = none: unfiltered). 404-style
   * error when the VM has no such port on this host.
   */
  async applyFirewall(vmId: string, nicId: string, fw: PortFirewall | null): Promise<{ port: string; flows: number }> {
    const port = tapName(vmId, nicId);
    await this.ensureBridge();
    if (!netDeviceExists(port) || !(await this.ovs.listPorts(this.bridge)).includes(port))
      throw Object.assign(new Error(`NIC ${nicId} of VM ${vmId} is not plugged on this host`), { code: "not_found" });
    const { flows } = await applyPortFirewall(this.ovs, this.bridge, port, fw);
    this.log("info", "nic.firewall", { vmId, nic: nicId, port, flows, rules: fw?.rules.length ?? null });
    return { port, flows };
  }

  async removePort(vmId: string, nic: NicLike, tap?: string): Promise<void> {
    const name = tap ?? tapName(vmId, nic.id);
    await this.dhcp
      ?.unregister(vmId, nic.id)
      .catch((e) => this.log("warn", "dhcp.unregister_failed", { vmId, nic: nic.id, error: e }));
    // The rules first: OVS keeps flows of a deleted port, and a later port may get its number.
    await this.ovs.unsecurePort(this.bridge, name);
    await removePortFirewall(this.ovs, this.bridge, name);
    await this.ovs.removePort(this.bridge, name);
    await deleteTap(name);
    this.log("info", "nic.detached", { vmId, nic: nic.id, tap: name });
  }
}
