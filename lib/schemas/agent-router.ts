// The agent API's router contract (issue 18, ADR 058): PUT /v1/routers/:vlan makes the VLAN's namespace
// on this host its router: SNAT to the uplink and floating IPs (DNAT). Pure zod: no Node imports.
import { z } from "zod";
import { formatIpv4, MAX_PREFIX, MIN_PREFIX, parseIpv4 } from "../ipam";

/** At most this many floating IPs per router and host (one nft rule pair and one address each). */
export const MAX_FLOATING_IPS = 256;

export interface ParsedInterfaceAddress {
  address: string;
  prefixLength: number;
  network: number;
  broadcast: number;
}

/** "10.77.0.1/24" → its parts; null unless a canonical host address with a /8../30 prefix. */
export function parseInterfaceAddress(text: string): ParsedInterfaceAddress | null {
  const m = /^([0-9.]{7,15})\/([0-9]{1,2})$/.exec(text);
  const addr = m ? parseIpv4(m[1]!) : null;
  if (!m || addr === null || formatIpv4(addr) !== m[1]) return null;
  const prefixLength = Number(m[2]);
  if (prefixLength < MIN_PREFIX || prefixLength > MAX_PREFIX) return null;
  const mask = (0xffffffff << (32 - prefixLength)) >>> 0;
  const network = (addr & mask) >>> 0;
  const broadcast = (network | ~mask) >>> 0;
  if (addr === network || addr === broadcast) return null;
  return { address: m[1]!, prefixLength, network, broadcast };
}

const ipv4 = z.string().refine((v) => parseIpv4(v) !== null && formatIpv4(parseIpv4(v)!) === v, {
  error: (i) => `"${String(i.input).slice(0, 40)}" is not an IPv4 address (dotted quad, no leading zeros)`,
});

const ifaceAddress = z.string().refine((v) => parseInterfaceAddress(v) !== null, {
  error: (i) =>
    `"${String(i.input).slice(0, 40)}" is not a host address with a prefix /${MIN_PREFIX}../${MAX_PREFIX}, ` +
    `e.g. 10.77.0.1/24`,
});

/** Is `ip` a usable host (not network/broadcast) of `net`? */
function hostOf(net: ParsedInterfaceAddress, ip: string): boolean {
  const n = parseIpv4(ip);
  return n !== null && n > net.network && n < net.broadcast;
}

export const routerSpecSchema = z
  .object({
    /** the network's gateway with its prefix: the router's inner address (the DHCP namespace's, ADR 057) */
    gateway: ifaceAddress,
    external: z.strictObject({
      /** the router's own address on the external network (SNAT source) */
      address: ifaceAddress,
      /** next hop for the default route of the router namespace; none = only the external subnet is reachable */
      gateway: ipv4.optional(),
    }),
    snat: z.boolean(),
    floatingIps: z
      .array(z.strictObject({ floating: ipv4, fixed: ipv4 }))
      .max(MAX_FLOATING_IPS, `at most ${MAX_FLOATING_IPS} floating IPs per router`)
      .default([]),
  })
  .strict()
  .superRefine((spec, ctx) => {
    const inner = parseInterfaceAddress(spec.gateway);
    const outer = parseInterfaceAddress(spec.external.address);
    if (!inner || !outer) return; // reported by the field
    if (outer.network <= inner.broadcast && inner.network <= outer.broadcast)
      ctx.addIssue({
        code: "custom",
        path: ["external", "address"],
        message: "the external subnet overlaps the network",
      });
    const gw = spec.external.gateway;
    if (gw !== undefined && (!hostOf(outer, gw) || gw === outer.address))
      ctx.addIssue({
        code: "custom",
        path: ["external", "gateway"],
        message: `${gw} is not another host of ${spec.external.address}`,
      });
    const floating = new Set<string>();
    const fixed = new Set<string>();
    spec.floatingIps.forEach((f, i) => {
      if (!hostOf(outer, f.floating) || f.floating === outer.address || f.floating === gw)
        ctx.addIssue({
          code: "custom",
          path: ["floatingIps", i, "floating"],
          message: `${f.floating} is not a free host address of the external subnet ${spec.external.address}`,
        });
      if (!hostOf(inner, f.fixed) || f.fixed === inner.address)
        ctx.addIssue({
          code: "custom",
          path: ["floatingIps", i, "fixed"],
          message: `${f.fixed} is not a guest address of the network ${spec.gateway}`,
        });
      if (floating.has(f.floating))
        ctx.addIssue({ code: "custom", path: ["floatingIps", i, "floating"], message: `${f.floating} appears twice` });
      if (fixed.has(f.fixed))
        ctx.addIssue({ code: "custom", path: ["floatingIps", i, "fixed"], message: `${f.fixed} has two floating IPs` });
      floating.add(f.floating);
      fixed.add(f.fixed);
    });
  });

export type RouterSpec = z.output<typeof routerSpecSchema>;

/** What GET /v1/routers and PUT answer per router. */
export interface RouterStatus {
  vlan: number;
  netns: string;
  uplink: string;
  spec: RouterSpec;
}

/** The VLAN in the path: 0 (untagged) or 1..4094, digits only. */
export const routerVlanSchema = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,3})$/, "the VLAN must be 0..4094")
  .transform(Number)
  .refine((v) => v <= 4094, "the VLAN must be 0..4094");
