// Pure IPv4 address management: CIDR parsing, gateway/pool validation, overlap detection, next
// free address and MAC generation. No I/O, so the same rules run in forms, route handlers and tests.
// Addresses are handled as unsigned 32-bit numbers; the database stores the canonical dotted form.

export const MIN_PREFIX = 8;
export const MAX_PREFIX = 30;

export type Cidr = {
  /** canonical text, e.g. "10.0.0.0/24" */
  text: string;
  prefix: number;
  network: number;
  broadcast: number;
};

/** A network's addressing as the allocator sees it (all addresses canonical dotted quads). */
export type NetworkPlan = { cidr: string; gateway: string; poolStart: string; poolEnd: string };

export type PlanField = "cidr" | "gateway" | "poolStart" | "poolEnd";
export type PlanIssue = { field: PlanField; message: string };

const OCTET = /^(0|[1-9][0-9]{0,2})$/;

/**
 * "10.0.0.1" → 167772161; null for anything else. Leading zeros are refused because tools disagree
 * on them (inet_aton reads "010" as octal 8), and an address must mean one thing everywhere.
 */
export function parseIpv4(text: string): number | null {
  const parts = text.trim().split(".");
  if (parts.length !== 4) return null;
  let n = 0;
  for (const p of parts) {
    if (!OCTET.test(p)) return null;
    const v = Number(p);
    if (v > 255) return null;
    n = n * 256 + v;
  }
  return n;
}

export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

export function isIpv4(text: string): boolean {
  return parseIpv4(text) !== null;
}

/** Canonical dotted form ("10.0.0.1"), or null when not an address. */
export function canonicalIpv4(text: string): string | null {
  const n = parseIpv4(text);
  return n === null ? null : formatIpv4(n);
}

function maskOf(prefix: number): number {
  // `>>> 0` keeps the result unsigned; a shift by 32 would be a no-op in JS, hence the prefix-0 case.
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

export type CidrResult = { ok: true; cidr: Cidr } | { ok: false; error: string };

/** Parses "a.b.c.d/n" with n in MIN_PREFIX..MAX_PREFIX and no host bits set. */
export function parseCidr(text: string): CidrResult {
  const m = /^([^/\s]+)\/([0-9]{1,2})$/.exec(text.trim());
  const addr = m?.[1] !== undefined ? parseIpv4(m[1]) : null;
  if (!m || addr === null) return { ok: false, error: `"${text}" is not an IPv4 CIDR; write it like 10.0.0.0/24` };
  const prefix = Number(m[2]);
  if (prefix < MIN_PREFIX || prefix > MAX_PREFIX) {
    return {
      ok: false,
      error: `prefix /${prefix} is not supported; use /${MIN_PREFIX} to /${MAX_PREFIX} (a /31 or /32 has no room for a gateway and guests)`,
    };
  }
  const mask = maskOf(prefix);
  const network = (addr & mask) >>> 0;
  if (network !== addr)
    return { ok: false, error: `${text} has host bits set; did you mean ${formatIpv4(network)}/${prefix}?` };
  return {
    ok: true,
    cidr: { text: `${formatIpv4(network)}/${prefix}`, prefix, network, broadcast: (network | ~mask) >>> 0 },
  };
}

/** Parses a CIDR already known to be valid (stored rows); throws on corruption rather than guessing. */
export function mustParseCidr(text: string): Cidr {
  const r = parseCidr(text);
  if (!r.ok) throw new Error(`invalid stored CIDR ${text}: ${r.error}`);
  return r.cidr;
}

export function cidrContains(cidr: Cidr, addr: number): boolean {
  return addr >= cidr.network && addr <= cidr.broadcast;
}

/** Two CIDRs overlap when either contains the other's network address (aligned blocks nest or are disjoint). */
export function cidrsOverlap(a: Cidr | string, b: Cidr | string): boolean {
  const x = typeof a === "string" ? mustParseCidr(a) : a;
  const y = typeof b === "string" ? mustParseCidr(b) : b;
  return x.network <= y.broadcast && y.network <= x.broadcast;
}

/** First and last host address (network and broadcast excluded). */
export function usableRange(cidr: Cidr): { first: number; last: number } {
  return { first: cidr.network + 1, last: cidr.broadcast - 1 };
}

/**
 * Checks a network's addressing and fills in the default pool (the whole usable range; the gateway
 * is skipped at allocation, so "usable range minus the gateway"). Every problem is reported with
 * the field it belongs to, so a form can show it next to the input.
 */
export function validateNetworkPlan(input: {
  cidr: string;
  gateway: string;
  poolStart?: string | null;
  poolEnd?: string | null;
}): { ok: true; plan: NetworkPlan } | { ok: false; issues: PlanIssue[] } {
  const issues: PlanIssue[] = [];
  const parsed = parseCidr(input.cidr);
  const gw = parseIpv4(input.gateway);
  if (gw === null) issues.push({ field: "gateway", message: `gateway "${input.gateway}" is not an IPv4 address` });
  if (!parsed.ok) {
    issues.push({ field: "cidr", message: parsed.error });
    return { ok: false, issues };
  }
  const cidr = parsed.cidr;
  const { first, last } = usableRange(cidr);
  if (gw !== null) {
    if (!cidrContains(cidr, gw))
      issues.push({ field: "gateway", message: `gateway ${formatIpv4(gw)} is outside ${cidr.text}` });
    else if (gw === cidr.network)
      issues.push({ field: "gateway", message: `gateway ${formatIpv4(gw)} is the network address of ${cidr.text}` });
    else if (gw === cidr.broadcast)
      issues.push({ field: "gateway", message: `gateway ${formatIpv4(gw)} is the broadcast address of ${cidr.text}` });
  }

  const bound = (field: "poolStart" | "poolEnd", text: string | null | undefined, fallback: number): number | null => {
    if (text === undefined || text === null || text.trim() === "") return fallback;
    const label = field === "poolStart" ? "pool start" : "pool end";
    const n = parseIpv4(text);
    if (n === null) {
      issues.push({ field, message: `${label} "${text}" is not an IPv4 address` });
      return null;
    }
    if (n < first || n > last) {
      issues.push({
        field,
        message: `${label} ${formatIpv4(n)} is outside the usable range of ${cidr.text} (${formatIpv4(first)}–${formatIpv4(last)})`,
      });
      return null;
    }
    return n;
  };
  const start = bound("poolStart", input.poolStart, first);
  const end = bound("poolEnd", input.poolEnd, last);
  if (start !== null && end !== null && end < start)
    issues.push({ field: "poolEnd", message: `pool end ${formatIpv4(end)} is before pool start ${formatIpv4(start)}` });
  if (start !== null && end !== null && end === start && gw === start) {
    issues.push({
      field: "poolEnd",
      message: `the pool ${formatIpv4(start)}–${formatIpv4(end)} holds only the gateway; it has no address for a VM`,
    });
  }
  if (issues.length > 0 || gw === null || start === null || end === null) return { ok: false, issues };
  return {
    ok: true,
    plan: { cidr: cidr.text, gateway: formatIpv4(gw), poolStart: formatIpv4(start), poolEnd: formatIpv4(end) },
  };
}

type Bounds = { start: number; end: number; gateway: number; network: number; broadcast: number };

function boundsOf(plan: NetworkPlan): Bounds {
  const cidr = mustParseCidr(plan.cidr);
  const num = (s: string) => {
    const n = parseIpv4(s);
    if (n === null) throw new Error(`invalid stored address ${s}`);
    return n;
  };
  return {
    start: num(plan.poolStart),
    end: num(plan.poolEnd),
    gateway: num(plan.gateway),
    network: cidr.network,
    broadcast: cidr.broadcast,
  };
}

function allocatable(b: Bounds, n: number): boolean {
  return n >= b.start && n <= b.end && n !== b.gateway && n !== b.network && n !== b.broadcast;
}

/** Addresses a VM can get from the pool (the gateway and network/broadcast never count). */
export function poolSize(plan: NetworkPlan): number {
  const b = boundsOf(plan);
  let size = b.end - b.start + 1;
  for (const reserved of new Set([b.gateway, b.network, b.broadcast]))
    if (reserved >= b.start && reserved <= b.end) size--;
  return Math.max(0, size);
}

/** Whether `ip` is an address the pool could hand out. */
export function inPool(plan: NetworkPlan, ip: string): boolean {
  const n = parseIpv4(ip);
  return n !== null && allocatable(boundsOf(plan), n);
}

/** Distinct in-pool addresses among `used` (anything else, e.g. a stale address outside a shrunk pool, does not consume the pool). */
export function usedInPool(plan: NetworkPlan, used: Iterable<string>): number {
  const b = boundsOf(plan);
  const seen = new Set<number>();
  for (const ip of used) {
    const n = parseIpv4(ip);
    if (n !== null && allocatable(b, n)) seen.add(n);
  }
  return seen.size;
}

export function freeCount(plan: NetworkPlan, used: Iterable<string>): number {
  return poolSize(plan) - usedInPool(plan, used);
}

/**
 * The lowest free pool address, or null when the pool is exhausted. Lowest-first keeps addresses
 * predictable; the loop runs at most |used| + 1 times because every skip is a used address.
 */
export function nextFreeAddress(plan: NetworkPlan, used: Iterable<string>): string | null {
  const b = boundsOf(plan);
  const taken = new Set<number>([b.gateway, b.network, b.broadcast]);
  for (const ip of used) {
    const n = parseIpv4(ip);
    if (n !== null) taken.add(n);
  }
  for (let n = b.start; n <= b.end; n++) if (!taken.has(n)) return formatIpv4(n);
  return null;
}

export function prefixLength(cidr: string): number {
  return mustParseCidr(cidr).prefix;
}

/** QEMU/libvirt's locally administered OUI: 0x52 has the local bit (0x02) set and the multicast bit (0x01) clear. */
export const MAC_PREFIX = "52:54:00";

/**
 * A MAC from three random bytes: `52:54:00:xx:xx:xx`. Pure (same bytes → same MAC) so it can be
 * tested; the caller supplies crypto-random bytes and retries on a uniqueness collision.
 */
export function macFromBytes(bytes: ArrayLike<number>): string {
  if (bytes.length < 3) throw new Error("macFromBytes needs 3 bytes");
  const hex = (i: number) => ((bytes[i] ?? 0) & 255).toString(16).padStart(2, "0");
  return `${MAC_PREFIX}:${hex(0)}:${hex(1)}:${hex(2)}`;
}
