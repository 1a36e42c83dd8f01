// DHCP per network (ADR 057), the pure part: names, validation, dnsmasq's argv and hostsfile, and
// the OpenFlow rules that let a port-secured guest take part in DHCP. No I/O here (unit-tested).
import crypto from "node:crypto";
import { isIPv4 } from "node:net";
import { T_INGRESS } from "./firewall";

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const IFNAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/;

/** One NIC the DHCP service answers for: its IPAM address on its VLAN. */
export interface DhcpNic {
  vmId: string;
  nicId: string;
  /** 0 = untagged, 1..4094 */
  vlan: number;
  mac: string;
  ip: string;
  prefixLength: number;
  gateway: string;
}

/** The subnet a VLAN's dnsmasq serves (from its first NIC). */
export interface DhcpSubnet {
  vlan: number;
  gateway: string;
  prefixLength: number;
}

/** Per-agent unique names of a VLAN's DHCP namespace and veth pair (≤ 15 chars each). */
export interface DhcpNames {
  netns: string;
  /** the OVS access port, in the host's namespace */
  outer: string;
  /** inside the namespace: holds the gateway address, dnsmasq binds to it */
  inner: string;
}

export function assertVlan(vlan: number): void {
  if (!Number.isInteger(vlan) || vlan < 0 || vlan > 4094)
    throw new Error(`invalid VLAN ${vlan}: 0 (untagged) or 1..4094`);
}

export function assertMac(mac: string): void {
  if (typeof mac !== "string" || !MAC_RE.test(mac))
    throw new Error(`invalid MAC "${mac}" (lower-case aa:bb:cc:dd:ee:ff)`);
}

export function assertIpv4(ip: string, what = "IPv4 address"): void {
  // isIPv4 accepts only dotted quads without leading zeros: nothing else can reach argv or a file.
  if (typeof ip !== "string" || !isIPv4(ip)) throw new Error(`invalid ${what} "${ip}"`);
}

/** DHCP needs room for a gateway and a guest: /8 … /30, as the network schema (lib/schemas/networks.ts). */
export function assertPrefix(prefixLength: number): void {
  if (!Number.isInteger(prefixLength) || prefixLength < 8 || prefixLength > 30)
    throw new Error(`invalid prefix length ${prefixLength}: 8..30`);
}

function ipToInt(ip: string): number {
  return ip.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
}

function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join(".");
}

export function netmaskOf(prefixLength: number): string {
  assertPrefix(prefixLength);
  return intToIp(prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0);
}

export function networkOf(ip: string, prefixLength: number): string {
  assertIpv4(ip);
  return intToIp((ipToInt(ip) & ipToInt(netmaskOf(prefixLength))) >>> 0);
}

/** Checks every field of a NIC; the IP and the gateway must be distinct hosts of one subnet. */
export function validateDhcpNic(nic: DhcpNic): void {
  assertVlan(nic.vlan);
  assertMac(nic.mac);
  assertIpv4(nic.ip);
  assertIpv4(nic.gateway, "gateway");
  assertPrefix(nic.prefixLength);
  if (networkOf(nic.ip, nic.prefixLength) !== networkOf(nic.gateway, nic.prefixLength))
    throw new Error(`gateway ${nic.gateway} is not in ${nic.ip}/${nic.prefixLength}`);
  if (nic.ip === nic.gateway) throw new Error(`the NIC's address ${nic.ip} is the gateway`);
  const net = networkOf(nic.ip, nic.prefixLength);
  const bcast = intToIp((ipToInt(net) | (~ipToInt(netmaskOf(nic.prefixLength)) >>> 0)) >>> 0);
  for (const a of [nic.ip, nic.gateway])
    if (a === net || a === bcast)
      throw new Error(`${a} is the network or broadcast address of ${net}/${nic.prefixLength}`);
}

/**
 * Names from the bridge and the VLAN: two agents on one machine (own bridges) may serve the same VLAN
 * number, so the bridge is part of it. "pd" + 8 hex of sha256(bridge:vlan) + o|i = 11 chars.
 */
export function dhcpNames(bridge: string, vlan: number): DhcpNames {
  if (!IFNAME_RE.test(bridge)) throw new Error(`invalid bridge name "${bridge}"`);
  assertVlan(vlan);
  const h = crypto.createHash("sha256").update(`${bridge}:${vlan}`).digest("hex").slice(0, 8);
  return { netns: `pa-dhcp-${h}`, outer: `pd${h}o`, inner: `pd${h}i` };
}

export interface DnsmasqFiles {
  hostsfile: string;
  leasefile: string;
  pidfile: string;
}

/** Default lease: one hour (renewals are cheap, and a changed address reaches the guest within it). */
export const DHCP_LEASE = "1h";

/** dnsmasq's argv (without the binary) for one VLAN; files are absolute paths the agent owns. */
export function dnsmasqArgs(subnet: DhcpSubnet, names: DhcpNames, files: DnsmasqFiles, lease = DHCP_LEASE): string[] {
  assertIpv4(subnet.gateway, "gateway");
  assertPrefix(subnet.prefixLength);
  if (!IFNAME_RE.test(names.inner)) throw new Error(`invalid interface name "${names.inner}"`);
  if (!/^\d+[smhd]?$/.test(lease)) throw new Error(`invalid lease time "${lease}"`);
  for (const f of Object.values(files))
    if (!f.startsWith("/") || /[\s,]/.test(f)) throw new Error(`invalid dnsmasq file path "${f}"`);
  return [
    "--keep-in-foreground",
    "--conf-file=/dev/null",
    "--port=0", // no DNS
    "--bind-interfaces",
    `--interface=${names.inner}`,
    "--except-interface=lo",
    // "static": addresses only from dhcp-host lines (the hostsfile); nobody else gets one.
    `--dhcp-range=${networkOf(subnet.gateway, subnet.prefixLength)},static,${netmaskOf(subnet.prefixLength)},${lease}`,
    "--dhcp-ignore=tag:!known",
    `--dhcp-hostsfile=${files.hostsfile}`,
    `--dhcp-leasefile=${files.leasefile}`,
    `--pid-file=${files.pidfile}`,
    `--dhcp-option=option:router,${subnet.gateway}`,
    "--dhcp-option=option:dns-server", // no DNS server offered (there is none)
    "--dhcp-authoritative",
    // Re-read the hostsfile on SIGHUP: the agent's files are root's, so dnsmasq stays root in its namespace.
    "--user=root",
    "--log-facility=-",
  ];
}

/** The hostsfile: one `<mac>,<ip>` per NIC, sorted (stable content: unchanged sets are not re-signalled). */
export function renderHostsfile(nics: Iterable<Pick<DhcpNic, "mac" | "ip">>): string {
  const lines: string[] = [];
  for (const n of nics) {
    assertMac(n.mac);
    assertIpv4(n.ip);
    lines.push(`${n.mac},${n.ip}`);
  }
  return lines.sort().join("\n") + (lines.length ? "\n" : "");
}

export const DHCP_FLOW_PRIORITY = 120;

/**
 * Extra rules on a port-secured VM port so DHCP works as in Neutron: the client's broadcast from
 * 0.0.0.0 (which port security drops) and its renewals pass on without the egress firewall; the
 * server's answers to the port's MAC pass the ingress firewall; the port may not answer DHCP itself
 * (no rogue server). `cookie` is the port-security cookie: unplugging removes these with the rest.
 */
export function dhcpClientFlows(cookie: string, ofport: number, mac: string, ip?: string): string[] {
  if (!/^0x[0-9a-f]{1,16}$/.test(cookie)) throw new Error(`invalid cookie ${cookie}`);
  if (!Number.isInteger(ofport) || ofport < 1 || ofport > 0xfeff) throw new Error(`invalid OpenFlow port ${ofport}`);
  assertMac(mac);
  if (ip !== undefined) assertIpv4(ip);
  const base = `cookie=${cookie},table=0,priority=${DHCP_FLOW_PRIORITY},in_port=${ofport}`;
  const client = `${base},dl_src=${mac},udp,tp_src=68,tp_dst=67`;
  const flows = [
    `${base},udp,tp_src=67,tp_dst=68,actions=drop`,
    `${client},nw_src=0.0.0.0,nw_dst=255.255.255.255,actions=resubmit(,${T_INGRESS})`,
  ];
  if (ip !== undefined) flows.push(`${client},nw_src=${ip},actions=resubmit(,${T_INGRESS})`);
  flows.push(
    `cookie=${cookie},table=${T_INGRESS},priority=${DHCP_FLOW_PRIORITY},dl_dst=${mac},udp,tp_src=67,tp_dst=68,actions=NORMAL`,
  );
  return flows;
}
