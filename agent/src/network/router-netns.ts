// The per-VLAN namespace (ADR 057, 058): one network namespace per (bridge, VLAN) with a veth into the
// OVS bridge whose inner end holds the network's gateway address. DHCP (dnsmasq) and the router share it:
// it exists while at least one of them holds it, so a VLAN never has two interfaces with its gateway IP.
import crypto from "node:crypto";
import fs from "node:fs";
import { type Logger, run, silentLogger } from "../util";
import { assertIpv4, assertPrefix, type DhcpNames, dhcpNames } from "./dhcp-config";

/** The switch operations needed (Ovs implements them). */
export interface NetnsSwitch {
  addPort(bridge: string, port: string, vlan: number, externalIds?: Record<string, string>): Promise<void>;
  removePort(bridge: string, port: string): Promise<void>;
  ofctl(cmd: string, bridge: string, rest?: string[]): Promise<unknown>;
}

/**
 * Every host with VMs on a VLAN has the network's gateway address in its namespace (DHCP, the host's
 * router — distributed like Neutron DVR), each with its own MAC. So that a VM uses its own host's gateway
 * and the hosts do not answer each other's VMs, ARP for or from the gateway address never crosses between
 * hosts: frames that arrive TAGGED with the VLAN come from a trunk (an access port's frames are untagged
 * when matched), and those carrying ARP about the gateway are dropped. Above port security (110).
 */
export const GATEWAY_LOCAL_PRIORITY = 200;

export function gatewayLocalFlows(bridge: string, subnet: GatewaySubnet): { cookie: string; flows: string[] } {
  assertIpv4(subnet.gateway, "gateway");
  const cookie = `0x${crypto.createHash("sha256").update(`${bridge}:${subnet.vlan}:gateway-local`).digest("hex").slice(0, 15)}`;
  const base = `cookie=${cookie},table=0,priority=${GATEWAY_LOCAL_PRIORITY},dl_vlan=${subnet.vlan},arp`;
  return {
    cookie,
    flows: [`${base},arp_tpa=${subnet.gateway},actions=drop`, `${base},arp_spa=${subnet.gateway},actions=drop`],
  };
}

export type NamespaceHolder = "dhcp" | "router";

export interface GatewaySubnet {
  vlan: number;
  gateway: string;
  prefixLength: number;
}

interface Held {
  subnet: GatewaySubnet;
  names: DhcpNames;
  holders: Set<NamespaceHolder>;
}

export interface GatewayNamespacesOptions {
  bridge: string;
  ovs: NetnsSwitch;
  log?: Logger;
}

/**
 * A locally administered MAC from a seed: a namespace's interfaces keep their MAC when they are created
 * again (agent restart), so neighbours' ARP caches (VMs, the external gateway) stay right.
 */
export function stableMac(seed: string): string {
  const h = crypto.createHash("sha256").update(seed).digest();
  const b = [(h[0]! & 0xfc) | 0x02, h[1]!, h[2]!, h[3]!, h[4]!, h[5]!];
  return b.map((x) => x.toString(16).padStart(2, "0")).join(":");
}

/** An error the API maps to 409 (AgentError-like code). */
export function conflict(message: string): Error {
  return Object.assign(new Error(message), { code: "conflict" });
}

export class GatewayNamespaces {
  private readonly held = new Map<number, Held>();
  private chain: Promise<unknown> = Promise.resolve();
  private readonly log: Logger;

  constructor(private readonly opts: GatewayNamespacesOptions) {
    this.log = opts.log ?? silentLogger;
    dhcpNames(opts.bridge, 0); // validates the bridge name
  }

  get bridge(): string {
    return this.opts.bridge;
  }

  names(vlan: number): DhcpNames {
    return dhcpNames(this.opts.bridge, vlan);
  }

  /** The subnet a VLAN's namespace holds now, or null when there is none. */
  subnetOf(vlan: number): GatewaySubnet | null {
    return this.held.get(vlan)?.subnet ?? null;
  }

  holdersOf(vlan: number): NamespaceHolder[] {
    return [...(this.held.get(vlan)?.holders ?? [])];
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => {});
    return next;
  }

  /**
   * Takes a hold on the VLAN's namespace, creating it (after removing leftovers of an earlier agent run)
   * when nobody holds it. A different gateway/prefix than the one it holds is a conflict.
   */
  acquire(subnet: GatewaySubnet, holder: NamespaceHolder): Promise<DhcpNames> {
    assertIpv4(subnet.gateway, "gateway");
    assertPrefix(subnet.prefixLength);
    const names = this.names(subnet.vlan);
    return this.serial(async () => {
      const h = this.held.get(subnet.vlan);
      if (h) {
        if (h.subnet.gateway !== subnet.gateway || h.subnet.prefixLength !== subnet.prefixLength)
          throw conflict(
            `VLAN ${subnet.vlan} has the gateway ${h.subnet.gateway}/${h.subnet.prefixLength} on this host ` +
              `(${[...h.holders].join(", ")}); ${holder} wants ${subnet.gateway}/${subnet.prefixLength}`,
          );
        h.holders.add(holder);
        return h.names;
      }
      try {
        await this.create(subnet, names);
      } catch (e) {
        await this.remove(names, subnet.vlan).catch(() => {});
        throw e;
      }
      this.held.set(subnet.vlan, { subnet: { ...subnet }, names, holders: new Set([holder]) });
      return names;
    });
  }

  /** Drops a hold; the namespace, its veth and OVS port go with the last one. Idempotent. */
  release(vlan: number, holder: NamespaceHolder): Promise<void> {
    return this.serial(async () => {
      const h = this.held.get(vlan);
      if (!h?.holders.delete(holder) || h.holders.size > 0) return;
      this.held.delete(vlan);
      await this.remove(h.names, vlan);
      this.log("info", "netns.removed", { vlan, netns: h.names.netns });
    });
  }

  private ipNs(netns: string, ...args: string[]) {
    return run("ip", ["-n", netns, ...args], { timeoutMs: 10_000 });
  }

  private async create(subnet: GatewaySubnet, names: DhcpNames): Promise<void> {
    const { netns, outer, inner } = names;
    await this.remove(names, subnet.vlan); // leftovers of an agent that was killed
    await run("ip", ["netns", "add", netns], { timeoutMs: 10_000 });
    await run("ip", ["link", "add", outer, "type", "veth", "peer", "name", inner, "netns", netns], {
      timeoutMs: 10_000,
    });
    await this.ipNs(netns, "link", "set", "lo", "up");
    await this.ipNs(netns, "link", "set", inner, "address", stableMac(`${this.opts.bridge}:${subnet.vlan}:gateway`));
    await this.ipNs(netns, "addr", "add", `${subnet.gateway}/${subnet.prefixLength}`, "dev", inner);
    await this.ipNs(netns, "link", "set", inner, "up");
    // The userspace datapath does not complete offloaded checksums (as QEMU's NICs: csum=off): UDP and TCP
    // from the namespace must leave the veth with a real checksum. Best effort: the kernel datapath works anyway.
    await run("ip", ["netns", "exec", netns, "ethtool", "-K", inner, "tx", "off"], { timeoutMs: 10_000 }).catch((e) =>
      this.log("warn", "netns.ethtool_failed", { netns, error: e }),
    );
    await run("ip", ["link", "set", outer, "up"], { timeoutMs: 10_000 });
    await this.opts.ovs.addPort(this.opts.bridge, outer, subnet.vlan, { "polyarch-dhcp": netns });
    if (subnet.vlan > 0)
      for (const flow of gatewayLocalFlows(this.opts.bridge, subnet).flows)
        await this.opts.ovs.ofctl("add-flow", this.opts.bridge, [flow]);
    this.log("info", "netns.created", {
      vlan: subnet.vlan,
      netns,
      gateway: `${subnet.gateway}/${subnet.prefixLength}`,
    });
  }

  private async remove(names: DhcpNames, vlan?: number): Promise<void> {
    if (vlan !== undefined && vlan > 0) {
      const { cookie } = gatewayLocalFlows(this.opts.bridge, { vlan, gateway: "0.0.0.0", prefixLength: 24 });
      await this.opts.ovs.ofctl("del-flows", this.opts.bridge, [`cookie=${cookie}/-1`]).catch(() => {});
    }
    await this.opts.ovs.removePort(this.opts.bridge, names.outer).catch(() => {});
    if (fs.existsSync(`/sys/class/net/${names.outer}`))
      await run("ip", ["link", "del", names.outer], { timeoutMs: 10_000 }).catch(() => {});
    if (fs.existsSync(`/run/netns/${names.netns}`))
      await run("ip", ["netns", "del", names.netns], { timeoutMs: 10_000 });
  }
}
