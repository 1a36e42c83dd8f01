// Port security (anti-spoofing) for VM ports on our OVS bridge, as OpenFlow rules (ADR 028).
//
// A VM port may send only from its own MAC, and IPv4 only from its allocated address (ARP included:
// sender MAC and sender IP must be its own; an ARP probe's 0.0.0.0 is allowed). Everything else it
// sends is dropped: other source MACs or IPs, gratuitous ARP claiming someone else's address, IPv6
// (our networks are IPv4-only), other ethertypes. Traffic *to* the VM is untouched.
// Like Neutron's OVS firewall driver, in table 0; what passes goes on to the security-group tables
// (firewall.ts, ADR 052), which end in `NORMAL` (VLAN tags are applied by the access port, MAC
// learning by NORMAL):
//
//   priority 110  in_port=P, dl_src=MAC, ip,  nw_src=IP                 → table 10
//   priority 110  in_port=P, dl_src=MAC, arp, arp_sha=MAC, arp_spa=IP   → table 10
//   priority 110  in_port=P, dl_src=MAC, arp, arp_sha=MAC, arp_spa=0.0.0.0 → table 10 (ARP probe)
//   priority 100  in_port=P                                              → drop
//
// A NIC without an address (DHCP, not used by Polyarch's IPAM) gets MAC-only rules: its IPv4 and ARP
// must come from its MAC. Every rule carries a cookie derived from the port name, so unplugging
// removes exactly this port's rules; plugging first clears any leftover rule of the same OpenFlow
// port number (OVS keeps flows of deleted ports, and numbers are reused).
import crypto from "node:crypto";
import { isIPv4 } from "node:net";
import { T_EGRESS } from "./firewall";

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** what an allowed packet does next: the egress security-group table */
const NEXT = `resubmit(,${T_EGRESS})`;

export const PORT_SECURITY_ALLOW_PRIORITY = 110;
export const PORT_SECURITY_DROP_PRIORITY = 100;

export interface PortAddress {
  mac: string;
  /** the NIC's allocated IPv4 address; absent = MAC-only rules */
  ip?: string;
}

/** 64-bit OpenFlow cookie for a port's rules: the same port name always gives the same cookie. */
export function portSecurityCookie(port: string): string {
  const hex = crypto.createHash("sha256").update(`polyarch-port-security/${port}`).digest("hex").slice(0, 16);
  // Never 0 (the cookie of flows nobody tagged) and never all ones (the "any cookie" mask).
  return /^0+$|^f+$/.test(hex) ? "0x1" : `0x${hex}`;
}

/** The flows (ovs-ofctl add-flow syntax) that let `ofport` send only from `addr`; the drop rule first. */
export function portSecurityFlows(port: string, ofport: number, addr: PortAddress): string[] {
  if (!Number.isInteger(ofport) || ofport < 1 || ofport > 0xfeff) throw new Error(`invalid OpenFlow port ${ofport}`);
  const mac = addr.mac.toLowerCase();
  if (!MAC_RE.test(mac)) throw new Error(`invalid MAC "${addr.mac}"`);
  if (addr.ip !== undefined && !isIPv4(addr.ip)) throw new Error(`invalid IPv4 address "${addr.ip}"`);
  const cookie = portSecurityCookie(port);
  const base = `cookie=${cookie},table=0,in_port=${ofport}`;
  const allow = `${base},priority=${PORT_SECURITY_ALLOW_PRIORITY},dl_src=${mac}`;
  const flows = [`${base},priority=${PORT_SECURITY_DROP_PRIORITY},actions=drop`];
  if (addr.ip === undefined) {
    flows.push(`${allow},ip,actions=${NEXT}`, `${allow},arp,arp_sha=${mac},actions=${NEXT}`);
  } else {
    flows.push(
      `${allow},ip,nw_src=${addr.ip},actions=${NEXT}`,
      `${allow},arp,arp_sha=${mac},arp_spa=${addr.ip},actions=${NEXT}`,
      `${allow},arp,arp_sha=${mac},arp_spa=0.0.0.0,actions=${NEXT}`,
    );
  }
  return flows;
}
