// Router, SNAT and floating IPs (ADR 058), the pure part: names, validation and the nftables ruleset of
// a VLAN's router namespace. No I/O here (unit-tested).
import crypto from "node:crypto";
import { parseInterfaceAddress, routerSpecSchema, type RouterSpec } from "../../../lib/schemas/agent-router";
import { assertVlan, dhcpNames } from "./dhcp-config";

const IFNAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/;

/** The one nftables table the agent owns in a router namespace (replaced atomically on every apply). */
export const NAT_TABLE = "polyarch_nat";

export interface RouterNames {
  /** the VLAN's namespace (shared with DHCP, ADR 057) */
  netns: string;
  /** the uplink veth's end on the external OVS bridge (host namespace) */
  uplinkOuter: string;
  /** the uplink veth's end in the namespace: external address and floating IPs */
  uplinkInner: string;
}

/** "pu" + 8 hex of sha256(bridge:vlan) + o|i: 11 chars, unique per agent bridge and VLAN like the DHCP names. */
export function routerNames(bridge: string, vlan: number): RouterNames {
  const { netns } = dhcpNames(bridge, vlan); // validates both
  const h = crypto.createHash("sha256").update(`${bridge}:${vlan}`).digest("hex").slice(0, 8);
  return { netns, uplinkOuter: `pu${h}o`, uplinkInner: `pu${h}i` };
}

/** Re-checks a spec (the API validated it; the agent also re-applies specs it stored). Throws with the field. */
export function validateRouterSpec(spec: unknown): RouterSpec {
  const r = routerSpecSchema.safeParse(spec);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw Object.assign(new Error(`invalid router: ${i.path.join(".") || "spec"}: ${i.message}`), { code: "invalid" });
  }
  return r.data;
}

/** The addresses the uplink must hold: the router's external address and each floating IP as /32. */
export function uplinkAddresses(spec: RouterSpec): string[] {
  return [spec.external.address, ...spec.floatingIps.map((f) => `${f.floating}/32`)];
}

/**
 * Floating IPs whose connections must be forgotten after `next` replaces `prev`: removed, or now mapped
 * to another fixed address (conntrack would keep steering an established flow to the old one).
 */
export function changedFloatingIps(prev: RouterSpec | undefined, next: RouterSpec): string[] {
  if (!prev) return [];
  const now = new Map(next.floatingIps.map((f) => [f.floating, f.fixed]));
  return prev.floatingIps.filter((f) => now.get(f.floating) !== f.fixed).map((f) => f.floating);
}

/** The network's subnet in CIDR form, e.g. 10.77.0.0/24 for a gateway 10.77.0.1/24. */
export function subnetOf(ifaceAddress: string): string {
  const p = parseInterfaceAddress(ifaceAddress);
  if (!p) throw new Error(`invalid interface address "${ifaceAddress}"`);
  const n = p.network;
  return `${[n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".")}/${p.prefixLength}`;
}

/**
 * The whole table, as one `nft -f` transaction: create-if-missing, delete, define. nft applies a file
 * atomically, so packets see the old rules or the new ones, never none (a re-PUT is atomic).
 * - prerouting: a floating IP arriving on the uplink is DNATed to its fixed address;
 * - postrouting: a fixed address with a floating IP leaves as it; with `snat`, the rest of the subnet
 *   leaves as the router's external address;
 * - input: the namespace itself answers pings from the uplink and nothing else (dnsmasq is not reachable);
 * - forward: from the uplink only answers and DNATed connections pass (the outside cannot reach fixed
 *   addresses directly); to the uplink only what is NATed above (no private source leaks out).
 */
export function renderRuleset(vlan: number, spec: RouterSpec, names: RouterNames): string {
  assertVlan(vlan);
  const s = validateRouterSpec(spec);
  for (const n of [names.uplinkInner]) if (!IFNAME_RE.test(n)) throw new Error(`invalid interface name "${n}"`);
  const up = `"${names.uplinkInner}"`;
  const external = parseInterfaceAddress(s.external.address)!.address;
  const subnet = subnetOf(s.gateway);
  const pre = s.floatingIps.map((f) => `\t\tiifname ${up} ip daddr ${f.floating} dnat to ${f.fixed}`);
  const post = s.floatingIps.map((f) => `\t\toifname ${up} ip saddr ${f.fixed} snat to ${f.floating}`);
  if (s.snat) post.push(`\t\toifname ${up} ip saddr ${subnet} snat to ${external}`);
  const outAllowed = s.floatingIps.map((f) => `\t\toifname ${up} ip saddr ${f.fixed} accept`);
  if (s.snat) outAllowed.push(`\t\toifname ${up} ip saddr ${subnet} accept`);
  return [
    `# polyarch router of VLAN ${vlan} (ADR 058); generated, replaced as a whole`,
    `table ip ${NAT_TABLE}`,
    `delete table ip ${NAT_TABLE}`,
    `table ip ${NAT_TABLE} {`,
    "\tchain prerouting {",
    "\t\ttype nat hook prerouting priority dstnat; policy accept;",
    ...pre,
    "\t}",
    "\tchain postrouting {",
    "\t\ttype nat hook postrouting priority srcnat; policy accept;",
    ...post,
    "\t}",
    "\tchain forward {",
    "\t\ttype filter hook forward priority filter; policy accept;",
    `\t\tiifname ${up} ct state established,related accept`,
    `\t\tiifname ${up} ct status dnat accept`,
    `\t\tiifname ${up} drop`,
    `\t\toifname ${up} ct state established,related accept`,
    ...outAllowed,
    `\t\toifname ${up} drop`,
    "\t}",
    "\tchain input {",
    "\t\ttype filter hook input priority filter; policy accept;",
    `\t\tiifname ${up} ct state established,related accept`,
    `\t\tiifname ${up} icmp type echo-request accept`,
    `\t\tiifname ${up} drop`,
    "\t}",
    "}",
    "",
  ].join("\n");
}
