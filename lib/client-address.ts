// The client address (ADR 024): who is on the other end of a request. The custom server
// (server/client-address.ts) computes it from the socket for every request — the socket's peer, or,
// only when that peer is a trusted proxy (POLYARCH_TRUSTED_PROXIES), the right-most X-Forwarded-For
// entry that is not itself a trusted proxy — and hands it to the app in CLIENT_ADDRESS_HEADER, after
// removing any copy the client sent. The app (audit log, better-auth's rate limit) reads only that header.
import { BlockList, isIPv4, isIPv6 } from "node:net";
import { z } from "zod";

/** The one header the app trusts for the client address; only the custom server sets it. */
export const CLIENT_ADDRESS_HEADER = "x-polyarch-client-ip";

/**
 * `a.b.c.d`, an IPv6 address in lower case, or null when `text` is not an address. Accepts what
 * sockets and proxies write: IPv4-mapped IPv6 (`::ffff:10.0.0.1` → `10.0.0.1`), brackets and ports
 * (`[::1]:443`, `10.0.0.1:8080`), a zone (`fe80::1%eth0` → `fe80::1`).
 */
export function normalizeAddress(text: string | null | undefined): string | null {
  let s = (text ?? "").trim();
  if (!s || s.length > 100) return null;
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(s);
  if (bracketed) s = bracketed[1] ?? "";
  else if (/^[\d.]+:\d{1,5}$/.test(s)) s = s.slice(0, s.lastIndexOf(":"));
  s = s.replace(/%[\w.-]+$/, "").toLowerCase();
  if (isIPv4(s)) return s;
  if (!isIPv6(s)) return null;
  const mapped = /^(?:::|(?:0{1,4}:){5})ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(s)?.[1];
  if (mapped && isIPv4(mapped)) return mapped;
  return s;
}

/** One POLYARCH_TRUSTED_PROXIES entry: an address or a CIDR, normalized; throws a sentence otherwise. */
function parseProxyEntry(entry: string): string {
  const [addr, bits, extra] = entry.split("/");
  const address = normalizeAddress(addr);
  const family = address ? (isIPv4(address) ? 4 : 6) : 0;
  const max = family === 4 ? 32 : 128;
  const prefix = bits === undefined ? max : /^\d{1,3}$/.test(bits) ? Number(bits) : NaN;
  if (!address || extra !== undefined || !(prefix >= 0 && prefix <= max)) {
    throw new Error(`"${entry}" is not an IP address or CIDR range (examples: 10.0.0.5, 10.0.0.0/8, fd00::/8)`);
  }
  return prefix === max ? address : `${address}/${prefix}`;
}

/** Parses the comma-separated list (empty = no trusted proxies) into normalized entries. */
export function parseTrustedProxies(text: string | null | undefined): string[] {
  return (text ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map(parseProxyEntry);
}

/** POLYARCH_TRUSTED_PROXIES as zod reads it: env.ts and server/main.ts share it. */
export const trustedProxiesSchema = z
  .string()
  .optional()
  .transform((text, ctx) => {
    try {
      return parseTrustedProxies(text);
    } catch (e) {
      ctx.addIssue({ code: "custom", message: e instanceof Error ? e.message : String(e) });
      return z.NEVER;
    }
  });

export type TrustedProxies = { readonly entries: readonly string[]; has(address: string): boolean };

/** A matcher for normalized entries (parseTrustedProxies); an empty list trusts nobody. */
export function trustedProxies(entries: readonly string[]): TrustedProxies {
  const list = new BlockList();
  for (const entry of entries) {
    const [addr = "", bits] = entry.split("/");
    const type = isIPv4(addr) ? "ipv4" : "ipv6";
    if (bits === undefined) list.addAddress(addr, type);
    else list.addSubnet(addr, Number(bits), type);
  }
  return {
    entries,
    has(address) {
      const a = normalizeAddress(address);
      return !!a && entries.length > 0 && list.check(a, isIPv4(a) ? "ipv4" : "ipv6");
    },
  };
}

/**
 * The client address of a request that arrived from `peer` (the socket's remote address) carrying
 * `forwardedFor` (every X-Forwarded-For value, joined): the peer itself unless it is a trusted proxy;
 * then X-Forwarded-For is walked from the right (each proxy appends the address it saw) and the first
 * entry that is not a trusted proxy is the client. Entries left of it were written by the client and are
 * never believed. A malformed entry stops the walk at the last trusted hop. Null only without a peer.
 */
export function resolveClientAddress(
  peer: string | null | undefined,
  forwardedFor: string | null | undefined,
  trusted: TrustedProxies,
): string | null {
  let address = normalizeAddress(peer);
  if (!address || !trusted.has(address)) return address;
  const hops = (forwardedFor ?? "").split(",").filter((s) => s.trim());
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = normalizeAddress(hops[i]);
    if (!hop) break;
    address = hop;
    if (!trusted.has(hop)) break;
  }
  return address;
}

/** The address the custom server vouched for (CLIENT_ADDRESS_HEADER), or null (no custom server in front). */
export function clientIpFrom(h: Headers): string | null {
  return normalizeAddress(h.get(CLIENT_ADDRESS_HEADER));
}
