// Security groups on a VM port as OpenFlow + conntrack rules (issue 18, ADR 052).
//
// The bridge's pipeline (base flows, installed with the bridge; ADR 052 has the picture):
//   table 0   port security (port-security.ts): a VM port's own MAC/IP → table 10, the rest dropped;
//             any other port (uplink, trunk) → table 20
//   table 10  egress: an IPv4 packet from a firewalled port → ct(zone=its ofport) → table 11; else → 20
//   table 11  egress verdict: established/related → 20; new + an "out" rule matches → commit → 20; else drop
//   table 20  ingress: an IPv4 packet to a firewalled port's MAC → ct(zone=its ofport) → table 21; else NORMAL
//   table 21  ingress verdict: established/related → NORMAL; new + an "in" rule matches → commit → NORMAL;
//             else drop
// NORMAL (MAC learning, VLAN access tags) still does the switching, so VLAN separation is unchanged.
// Non-IP traffic (ARP) is not filtered here; port security already limits what a port may send.
// Established connections are not cut when a rule goes away (conntrack keeps them, like AWS security
// groups); every new connection meets the current rules. Rules only allow: no rule, no new connection.
import crypto from "node:crypto";
import type { PortFirewall, PortFirewallRule } from "../../../lib/schemas/security-groups";

export const T_EGRESS = 10;
export const T_EGRESS_VERDICT = 11;
export const T_INGRESS = 20;
export const T_INGRESS_VERDICT = 21;

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** A stable cookie for the flows the pipeline itself needs (never deleted per port). */
export const BASE_COOKIE = "0x5041424153450001"; // "PABASE" + 1

/** The pipeline's table-miss flows; idempotent to add again (same match and priority replace). */
export function baseFlows(): string[] {
  const c = `cookie=${BASE_COOKIE}`;
  return [
    `${c},table=0,priority=1,actions=resubmit(,${T_INGRESS})`,
    `${c},table=${T_EGRESS},priority=0,actions=resubmit(,${T_INGRESS})`,
    `${c},table=${T_EGRESS_VERDICT},priority=0,actions=drop`,
    `${c},table=${T_INGRESS},priority=0,actions=NORMAL`,
    `${c},table=${T_INGRESS_VERDICT},priority=0,actions=drop`,
  ];
}

export function firewallCookie(port: string): string {
  const hex = crypto.createHash("sha256").update(`polyarch-firewall/${port}`).digest("hex").slice(0, 16);
  return /^0+$|^f+$/.test(hex) ? "0x2" : `0x${hex}`;
}

/**
 * A port range as the fewest value/mask matches OpenFlow understands (it has no range match):
 * 1000-1999 → 1000/0xfff8, 1008/0xfff0, … Exact ports stay plain numbers.
 */
export function portRangeMasks(min: number, max: number): string[] {
  if (!Number.isInteger(min) || !Number.isInteger(max) || min < 0 || max > 0xffff || min > max)
    throw new Error(`invalid port range ${min}-${max}`);
  const out: string[] = [];
  let lo = min;
  while (lo <= max) {
    // the largest aligned block starting at lo that stays within max
    let size = 1;
    while (lo % (size * 2) === 0 && lo + size * 2 - 1 <= max && size * 2 <= 0x10000) size *= 2;
    out.push(size === 1 ? String(lo) : `0x${lo.toString(16)}/0x${(0xffff & ~(size - 1)).toString(16)}`);
    lo += size;
  }
  return out;
}

/** The match part of one allow rule (protocol, ports, remote side), one string per flow. */
function ruleMatches(rule: PortFirewallRule): string[] {
  const remoteField = rule.direction === "in" ? "nw_src" : "nw_dst";
  const remotes = rule.remoteCidrs.map((c) => (c === "0.0.0.0/0" ? "" : `,${remoteField}=${c}`));
  const proto = rule.protocol === "any" ? "ip" : rule.protocol;
  const ports =
    rule.portMin !== undefined && rule.portMax !== undefined
      ? portRangeMasks(rule.portMin, rule.portMax).map((p) => `,tp_dst=${p}`)
      : [""];
  return remotes.flatMap((r) => ports.map((p) => `${proto}${r}${p}`));
}

export interface FirewalledPort {
  /** the tap (or veth) name: the cookie */
  port: string;
  ofport: number;
  mac: string;
}

/** Every flow of one port's firewall (ovs-ofctl add-flow syntax); replaced as a whole on a change. */
export function firewallFlows(p: FirewalledPort, fw: PortFirewall): string[] {
  if (!Number.isInteger(p.ofport) || p.ofport < 1 || p.ofport > 0xfeff)
    throw new Error(`invalid OpenFlow port ${p.ofport}`);
  const mac = p.mac.toLowerCase();
  if (!MAC_RE.test(mac)) throw new Error(`invalid MAC "${p.mac}"`);
  const c = `cookie=${firewallCookie(p.port)}`;
  const zone = p.ofport; // one conntrack zone per port: unique on the bridge, as OpenFlow numbers are
  const egress = `in_port=${p.ofport}`;
  const ingress = `dl_dst=${mac}`;
  const flows = [
    `${c},table=${T_EGRESS},priority=50,${egress},ip,actions=ct(table=${T_EGRESS_VERDICT},zone=${zone})`,
    `${c},table=${T_INGRESS},priority=50,${ingress},ip,actions=ct(table=${T_INGRESS_VERDICT},zone=${zone})`,
  ];
  for (const [table, match, next] of [
    [T_EGRESS_VERDICT, egress, `resubmit(,${T_INGRESS})`],
    [T_INGRESS_VERDICT, ingress, "NORMAL"],
  ] as const) {
    flows.push(
      `${c},table=${table},priority=60,ct_state=+trk+inv,${match},ip,actions=drop`,
      `${c},table=${table},priority=50,ct_state=+trk+est-inv,${match},ip,actions=${next}`,
      `${c},table=${table},priority=50,ct_state=+trk+rel-inv,${match},ip,actions=${next}`,
      `${c},table=${table},priority=10,${match},actions=drop`,
    );
  }
  for (const rule of fw.rules) {
    const out = rule.direction === "out";
    const [table, match, next] = out
      ? [T_EGRESS_VERDICT, egress, `resubmit(,${T_INGRESS})`]
      : [T_INGRESS_VERDICT, ingress, "NORMAL"];
    for (const m of ruleMatches(rule))
      flows.push(
        `${c},table=${table},priority=40,ct_state=+trk+new-est-inv,${match},${m},actions=ct(commit,zone=${zone}),${next}`,
      );
  }
  return [...new Set(flows)];
}
