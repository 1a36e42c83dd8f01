// The client-address rule (ADR 024): the socket's peer, or — only behind a trusted proxy — the
// right-most X-Forwarded-For entry that is not a trusted proxy. Headers a client chooses never count.
import { describe, expect, it } from "vitest";
import {
  CLIENT_ADDRESS_HEADER,
  clientIpFrom,
  normalizeAddress,
  parseTrustedProxies,
  resolveClientAddress,
  trustedProxies,
  trustedProxiesSchema,
} from "./client-address";

const none = trustedProxies([]);
const proxies = (text: string) => trustedProxies(parseTrustedProxies(text));

describe("normalizeAddress", () => {
  it.each([
    ["203.0.113.7", "203.0.113.7"],
    [" 203.0.113.7 ", "203.0.113.7"],
    ["::ffff:127.0.0.1", "127.0.0.1"],
    ["0:0:0:0:0:ffff:10.1.2.3", "10.1.2.3"],
    ["203.0.113.7:51234", "203.0.113.7"],
    ["[2001:DB8::1]:443", "2001:db8::1"],
    ["[::1]", "::1"],
    ["2001:DB8::1", "2001:db8::1"],
    ["fe80::1%eth0", "fe80::1"],
  ])("%s → %s", (input, expected) => expect(normalizeAddress(input)).toBe(expected));

  it.each(["", "unknown", "evil.example", "1.2.3", "300.1.1.1", "1.2.3.4, 5.6.7.8", "::1::2", null, undefined])(
    "%s is not an address",
    (input) => expect(normalizeAddress(input)).toBeNull(),
  );
});

describe("POLYARCH_TRUSTED_PROXIES", () => {
  it("parses addresses and CIDR ranges, IPv4 and IPv6; empty trusts nobody", () => {
    expect(parseTrustedProxies(undefined)).toEqual([]);
    expect(parseTrustedProxies(" ")).toEqual([]);
    expect(parseTrustedProxies("10.0.0.5, 10.0.0.0/8,fd00::/8, ::1, 192.168.1.1/32")).toEqual([
      "10.0.0.5",
      "10.0.0.0/8",
      "fd00::/8",
      "::1",
      "192.168.1.1",
    ]);
  });

  it.each(["proxy.local", "10.0.0.0/33", "fd00::/129", "10.0.0.0/8/1", "10.0.0.0/x", "10.0.0.0/"])(
    "refuses %s with a sentence naming it",
    (bad) => {
      const parsed = trustedProxiesSchema.safeParse(`10.0.0.1,${bad}`);
      expect(parsed.success).toBe(false);
      expect(parsed.error?.issues[0]?.message).toContain(`"${bad}" is not an IP address or CIDR range`);
    },
  );

  it("matches CIDR ranges of either family, and IPv4-mapped peers", () => {
    const t = proxies("10.0.0.0/8,2001:db8:1::/48,192.0.2.10");
    expect(t.has("10.200.3.4")).toBe(true);
    expect(t.has("::ffff:10.200.3.4")).toBe(true);
    expect(t.has("11.0.0.1")).toBe(false);
    expect(t.has("2001:db8:1:ffff::9")).toBe(true);
    expect(t.has("2001:db8:2::9")).toBe(false);
    expect(t.has("192.0.2.10")).toBe(true);
    expect(t.has("192.0.2.11")).toBe(false);
    expect(t.has("garbage")).toBe(false);
    expect(none.has("127.0.0.1")).toBe(false);
  });
});

describe("resolveClientAddress", () => {
  it("without trusted proxies: always the socket's peer, whatever X-Forwarded-For says", () => {
    expect(resolveClientAddress("198.51.100.4", undefined, none)).toBe("198.51.100.4");
    expect(resolveClientAddress("::ffff:127.0.0.1", "1.2.3.4", none)).toBe("127.0.0.1");
    expect(resolveClientAddress("2001:db8::5", "1.2.3.4, 5.6.7.8", none)).toBe("2001:db8::5");
    expect(resolveClientAddress(undefined, "1.2.3.4", none)).toBeNull();
  });

  it("a peer that is not a trusted proxy cannot forge its address", () => {
    const t = proxies("10.0.0.1");
    expect(resolveClientAddress("198.51.100.4", "10.0.0.1", t)).toBe("198.51.100.4");
    expect(resolveClientAddress("198.51.100.4", "203.0.113.9, 10.0.0.1", t)).toBe("198.51.100.4");
  });

  it("behind a trusted proxy: the entry it appended", () => {
    const t = proxies("10.0.0.1");
    expect(resolveClientAddress("10.0.0.1", "203.0.113.9", t)).toBe("203.0.113.9");
    // The client wrote "1.1.1.1" itself; the proxy appended what it saw.
    expect(resolveClientAddress("10.0.0.1", "1.1.1.1, 203.0.113.9", t)).toBe("203.0.113.9");
    expect(resolveClientAddress("::ffff:10.0.0.1", "[2001:db8::7]:5000", t)).toBe("2001:db8::7");
  });

  it("a chain of trusted proxies is walked from the right to the first untrusted hop", () => {
    const t = proxies("10.0.0.0/8, fd00::/8");
    expect(resolveClientAddress("10.0.0.1", "6.6.6.6, 203.0.113.9, 10.1.1.1, fd00::2", t)).toBe("203.0.113.9");
    // Only trusted hops: the left-most one is the best answer there is.
    expect(resolveClientAddress("10.0.0.1", "10.9.9.9, 10.1.1.1", t)).toBe("10.9.9.9");
    // A trusted proxy that sent no header is itself the client (a health check, say).
    expect(resolveClientAddress("10.0.0.1", undefined, t)).toBe("10.0.0.1");
    expect(resolveClientAddress("10.0.0.1", " , ", t)).toBe("10.0.0.1");
  });

  it("a malformed entry stops the walk at the last trusted hop", () => {
    const t = proxies("10.0.0.0/8");
    expect(resolveClientAddress("10.0.0.1", "203.0.113.9, bogus, 10.1.1.1", t)).toBe("10.1.1.1");
    expect(resolveClientAddress("10.0.0.1", "203.0.113.9, bogus", t)).toBe("10.0.0.1");
  });
});

describe("clientIpFrom", () => {
  it("reads only the header the custom server sets", () => {
    expect(clientIpFrom(new Headers({ "x-forwarded-for": "1.2.3.4", "x-real-ip": "5.6.7.8" }))).toBeNull();
    expect(clientIpFrom(new Headers({ [CLIENT_ADDRESS_HEADER]: "203.0.113.9", "x-forwarded-for": "1.2.3.4" }))).toBe(
      "203.0.113.9",
    );
    expect(clientIpFrom(new Headers({ [CLIENT_ADDRESS_HEADER]: "not an address" }))).toBeNull();
  });
});
