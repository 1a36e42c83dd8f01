// Router, SNAT and floating IPs per network on this host (issue 18, ADR 058), distributed like OpenStack
// DVR: the VLAN's namespace (the one holding the gateway address, shared with DHCP) gets an uplink veth
// into the external OVS bridge, IPv4 forwarding (that namespace only) and one nftables table doing SNAT
// and DNAT. Every call is serialised; specs are kept in <stateDir>/routers/ and re-applied at start.
import fs from "node:fs";
import path from "node:path";
import { parseInterfaceAddress, type RouterSpec, type RouterStatus } from "../../../lib/schemas/agent-router";
import { type Logger, run, silentLogger } from "../util";
import { assertVlan } from "./dhcp-config";
import {
  changedFloatingIps,
  NAT_TABLE,
  renderRuleset,
  routerNames,
  type RouterNames,
  uplinkAddresses,
  validateRouterSpec,
} from "./router-config";
import { conflict, type GatewayNamespaces, type NetnsSwitch, stableMac } from "./router-netns";

export interface ExternalNetwork {
  /** the OVS bridge of the external network (--external-bridge) */
  bridge: string;
  /** its VLAN tag for the uplink port, 0 = untagged (--external-vlan) */
  vlan: number;
}

export interface RouterServiceOptions {
  namespaces: GatewayNamespaces;
  ovs: NetnsSwitch;
  /** null: this host has no external network, every router is refused (409) */
  external: ExternalNetwork | null;
  stateDir: string;
  log?: Logger;
}

interface RouterState {
  vlan: number;
  spec: RouterSpec;
  names: RouterNames;
}

const T = { timeoutMs: 15_000 };

export class RouterService {
  private readonly routers = new Map<number, RouterState>();
  private chain: Promise<unknown> = Promise.resolve();
  private stopped = false;
  private readonly log: Logger;
  private readonly dir: string;

  constructor(private readonly opts: RouterServiceOptions) {
    this.log = opts.log ?? silentLogger;
    this.dir = path.join(opts.stateDir, "routers");
  }

  get externalNetwork(): boolean {
    return this.opts.external !== null;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => {});
    return next;
  }

  private status(st: RouterState): RouterStatus {
    return { vlan: st.vlan, netns: st.names.netns, uplink: st.names.uplinkOuter, spec: st.spec };
  }

  list(): RouterStatus[] {
    return [...this.routers.values()].sort((a, b) => a.vlan - b.vlan).map((st) => this.status(st));
  }

  /** Creates or replaces the VLAN's router (idempotent). Throws code invalid/conflict on bad input. */
  put(vlan: number, raw: unknown): Promise<RouterStatus> {
    assertVlan(vlan);
    const spec = validateRouterSpec(raw);
    if (!this.opts.external)
      throw conflict("this host has no external network (start the agent with --external-bridge): no routers here");
    return this.serial(async () => {
      if (this.stopped) throw Object.assign(new Error("the router service is stopped"), { code: "unavailable" });
      const prev = this.routers.get(vlan);
      if (prev && prev.spec.gateway !== spec.gateway) {
        this.routers.delete(vlan);
        await this.remove(prev);
      }
      const names = routerNames(this.opts.namespaces.bridge, vlan);
      const fresh = !this.routers.has(vlan);
      const gw = parseInterfaceAddress(spec.gateway)!;
      await this.opts.namespaces.acquire({ vlan, gateway: gw.address, prefixLength: gw.prefixLength }, "router");
      const st: RouterState = { vlan, spec, names };
      const forget = changedFloatingIps(this.routers.get(vlan)?.spec, spec);
      let added: string[];
      try {
        added = await this.apply(st, fresh);
      } catch (e) {
        if (fresh) await this.remove(st).catch(() => {});
        throw e;
      }
      await this.forgetConnections(names.netns, forget);
      this.announce(names, added);
      this.routers.set(vlan, st);
      this.persist(st);
      this.log("info", "router.applied", {
        vlan,
        netns: names.netns,
        snat: spec.snat,
        floatingIps: spec.floatingIps.length,
      });
      return this.status(st);
    });
  }

  /** Removes the VLAN's router: table, uplink, addresses (the namespace too unless DHCP holds it). */
  delete(vlan: number): Promise<boolean> {
    assertVlan(vlan);
    return this.serial(async () => {
      const st = this.routers.get(vlan);
      fs.rmSync(this.file(vlan), { force: true });
      if (!st) return false;
      this.routers.delete(vlan);
      await this.remove(st);
      this.log("info", "router.deleted", { vlan, netns: st.names.netns });
      return true;
    });
  }

  /** Re-applies the routers stored by an earlier run (agent start). Failures are logged, not thrown. */
  async restore(): Promise<void> {
    if (!fs.existsSync(this.dir)) return;
    for (const f of fs.readdirSync(this.dir).sort()) {
      const m = /^vlan-(\d{1,4})\.json$/.exec(f);
      if (!m) continue;
      try {
        await this.put(Number(m[1]), JSON.parse(fs.readFileSync(path.join(this.dir, f), "utf8")));
      } catch (e) {
        this.log("warn", "router.restore_failed", { vlan: Number(m[1]), error: e });
      }
    }
  }

  /** Removes every router from the system (agent stop); their specs stay for the next start. */
  stop(): Promise<void> {
    this.stopped = true;
    return this.serial(async () => {
      for (const st of [...this.routers.values()]) {
        this.routers.delete(st.vlan);
        await this.remove(st).catch((e) => this.log("warn", "router.teardown_failed", { vlan: st.vlan, error: e }));
      }
    });
  }

  private file(vlan: number, ext = "json"): string {
    return path.join(this.dir, `vlan-${vlan}.${ext}`);
  }

  private persist(st: RouterState): void {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const tmp = `${this.file(st.vlan)}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(st.spec), { mode: 0o600 });
    fs.renameSync(tmp, this.file(st.vlan));
  }

  private inNs(netns: string, cmd: string, ...args: string[]) {
    return run("ip", ["netns", "exec", netns, cmd, ...args], T);
  }

  private async uplinkAddressesNow(names: RouterNames): Promise<string[]> {
    const { stdout } = await run("ip", ["-n", names.netns, "-j", "addr", "show", "dev", names.uplinkInner], T);
    const links = JSON.parse(stdout || "[]") as {
      addr_info?: { family?: string; local?: string; prefixlen?: number }[];
    }[];
    return links.flatMap((l) =>
      (l.addr_info ?? []).filter((a) => a.family === "inet").map((a) => `${a.local}/${a.prefixlen}`),
    );
  }

  /**
   * Uplink (created when missing), forwarding, addresses and the NAT table. New addresses come before the
   * new rules and stale ones go after them, so an unchanged floating IP never stops answering.
   */
  private async apply(st: RouterState, fresh: boolean): Promise<string[]> {
    const ext = this.opts.external!;
    const { netns, uplinkOuter: outer, uplinkInner: inner } = st.names;
    if (fresh) await this.removeUplink(st.names); // leftovers of an agent that was killed
    if (!fs.existsSync(`/sys/class/net/${outer}`)) {
      await run("ip", ["link", "add", outer, "type", "veth", "peer", "name", inner, "netns", netns], T);
      // A stable MAC: the outside's ARP entries for the external address and floating IPs survive a re-creation.
      const mac = stableMac(`${this.opts.namespaces.bridge}:${st.vlan}:uplink`);
      await run("ip", ["-n", netns, "link", "set", inner, "address", mac], T);
      await run("ip", ["-n", netns, "link", "set", inner, "up"], T);
      // As the gateway veth: the userspace datapath needs real checksums (best effort).
      await this.inNs(netns, "ethtool", "-K", inner, "tx", "off").catch((e) =>
        this.log("warn", "router.ethtool_failed", { netns, error: e }),
      );
      await run("ip", ["link", "set", outer, "up"], T);
      await this.opts.ovs.addPort(ext.bridge, outer, ext.vlan, { "polyarch-router": netns });
    }
    // Forwarding for this namespace only (net.ipv4.* sysctls are per network namespace).
    await this.inNs(netns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1");
    const want = uplinkAddresses(st.spec);
    const now = await this.uplinkAddressesNow(st.names);
    for (const a of want.filter((x) => !now.includes(x)))
      await run("ip", ["-n", netns, "addr", "add", a, "dev", inner], T);
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const rules = this.file(st.vlan, "nft");
    fs.writeFileSync(rules, renderRuleset(st.vlan, st.spec, st.names), { mode: 0o600 });
    await this.inNs(netns, "nft", "-f", rules);
    for (const a of now.filter((x) => !want.includes(x)))
      await run("ip", ["-n", netns, "addr", "del", a, "dev", inner], T);
    const gw = st.spec.external.gateway;
    if (gw) await run("ip", ["-n", netns, "route", "replace", "default", "via", gw, "dev", inner], T);
    else await run("ip", ["-n", netns, "route", "del", "default"], T).catch(() => {}); // none: fine
    return want.filter((x) => !now.includes(x)).map((a) => a.split("/")[0]!);
  }

  /**
   * Gratuitous ARP for addresses this host just took (a floating IP that followed its VM from another
   * host): the outside's ARP caches point at this uplink at once instead of after their entry expires.
   * Two announcements a second apart, in the background (arping waits between them); best effort.
   */
  private announce(names: RouterNames, addresses: string[]): void {
    if (addresses.length === 0) return;
    const { netns, uplinkInner: dev } = names;
    void (async () => {
      // A new uplink takes a moment to come up on the bridge: arping on it before fails "Network is down".
      let up = false;
      for (let i = 0; i < 30 && !(up = await this.linkUp(netns, dev)); i++)
        await new Promise((r) => setTimeout(r, 100));
      // Gone or still down (the router was removed meanwhile): nothing to announce on.
      if (!up) return this.log("info", "router.garp_skipped", { netns, addresses });
      await Promise.all(
        addresses.map((ip) =>
          this.inNs(netns, "arping", "-q", "-U", "-c", "2", "-I", dev, ip).catch(async (e: unknown) =>
            // The uplink removed during the announcement (router deleted or stopped) is not a failure.
            this.log((await this.linkUp(netns, dev)) ? "warn" : "info", "router.garp_failed", { netns, ip, error: e }),
          ),
        ),
      );
    })();
  }

  private async linkUp(netns: string, dev: string): Promise<boolean> {
    const { stdout } = await run("ip", ["-n", netns, "-j", "link", "show", "dev", dev], T).catch(() => ({
      stdout: "[]",
    }));
    return (JSON.parse(stdout || "[]") as { operstate?: string }[])[0]?.operstate === "UP";
  }

  /**
   * Drops the tracked connections of floating IPs that were removed or re-mapped: conntrack would keep
   * NATing an established flow by its old entry. Inbound flows have the floating IP as original
   * destination, outbound ones as reply destination. Exit 1 = nothing to delete.
   */
  private async forgetConnections(netns: string, floating: string[]): Promise<void> {
    const matches = floating.flatMap((ip) => [["-d", ip] as const, ["-q", ip] as const]);
    await Promise.all(
      matches.map(([flag, ip]) =>
        this.inNs(netns, "conntrack", "-D", flag, ip).catch((e: unknown) => {
          if ((e as { exitCode?: unknown }).exitCode !== 1)
            this.log("warn", "router.conntrack_failed", { netns, ip, error: e });
        }),
      ),
    );
  }

  private async removeUplink(names: RouterNames): Promise<void> {
    const ext = this.opts.external;
    if (ext) await this.opts.ovs.removePort(ext.bridge, names.uplinkOuter).catch(() => {});
    if (fs.existsSync(`/sys/class/net/${names.uplinkOuter}`))
      await run("ip", ["link", "del", names.uplinkOuter], T).catch(() => {});
  }

  private async remove(st: RouterState): Promise<void> {
    const { netns } = st.names;
    if (fs.existsSync(`/run/netns/${netns}`)) {
      await this.inNs(netns, "nft", "delete", "table", "ip", NAT_TABLE).catch(() => {}); // absent: fine
      await this.inNs(netns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=0").catch(() => {});
    }
    // Deleting the veth takes its addresses and the default route with it.
    await this.removeUplink(st.names);
    fs.rmSync(this.file(st.vlan, "nft"), { force: true });
    await this.opts.namespaces.release(st.vlan, "router");
  }
}
