import { describe, expect, it } from "vitest";
import {
  canonicalIpv4,
  cidrsOverlap,
  formatIpv4,
  freeCount,
  inPool,
  macFromBytes,
  nextFreeAddress,
  parseCidr,
  parseIpv4,
  poolSize,
  prefixLength,
  usedInPool,
  validateNetworkPlan,
  type NetworkPlan,
} from "./ipam";

describe("parseIpv4 / formatIpv4", () => {
  it.each([
    ["0.0.0.0", 0],
    ["10.0.0.1", 167772161],
    ["255.255.255.255", 4294967295],
    ["192.168.1.254", 3232236030],
    [" 10.0.0.1 ", 167772161],
  ])("%s → %d and back", (text, n) => {
    expect(parseIpv4(text)).toBe(n);
    expect(formatIpv4(n)).toBe(text.trim());
  });

  it.each([
    "",
    "10.0.0",
    "10.0.0.0.1",
    "256.0.0.1",
    "10.0.0.-1",
    "010.0.0.1",
    "10.0.0.01",
    "a.b.c.d",
    "10.0.0.1/24",
    "1e1.0.0.1",
    "0x10.0.0.1",
    "::1",
  ])("%j is not an address", (text) => {
    expect(parseIpv4(text)).toBeNull();
    expect(canonicalIpv4(text)).toBeNull();
  });
});

describe("parseCidr", () => {
  it.each([
    ["10.0.0.0/24", "10.0.0.0/24", 24, "10.0.0.0", "10.0.0.255"],
    ["10.0.0.0/8", "10.0.0.0/8", 8, "10.0.0.0", "10.255.255.255"],
    ["192.168.10.8/30", "192.168.10.8/30", 30, "192.168.10.8", "192.168.10.11"],
    ["172.16.0.0/12", "172.16.0.0/12", 12, "172.16.0.0", "172.31.255.255"],
    ["200.0.0.0/8", "200.0.0.0/8", 8, "200.0.0.0", "200.255.255.255"],
  ])("%s is valid", (input, text, prefix, network, broadcast) => {
    const r = parseCidr(input);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.cidr).toMatchObject({ text, prefix });
    expect(formatIpv4(r.cidr.network)).toBe(network);
    expect(formatIpv4(r.cidr.broadcast)).toBe(broadcast);
  });

  it.each([
    ["10.0.0.0", /write it like 10.0.0.0\/24/],
    ["10.0.0.0/", /write it like/],
    ["10.0.0.0/abc", /write it like/],
    ["10.0.0.300/24", /write it like/],
    ["10.0.0.0/7", /\/7 is not supported; use \/8 to \/30/],
    ["10.0.0.0/31", /\/31 is not supported/],
    ["10.0.0.0/32", /\/32 is not supported/],
    ["10.0.0.0/33", /\/33 is not supported/],
    ["10.0.0.5/24", /host bits set; did you mean 10.0.0.0\/24\?/],
    ["10.1.0.0/8", /did you mean 10.0.0.0\/8\?/],
  ])("%s is refused", (input, message) => {
    const r = parseCidr(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(message);
  });

  it("prefixLength", () => {
    expect(prefixLength("10.0.0.0/28")).toBe(28);
  });
});

describe("cidrsOverlap", () => {
  it.each([
    ["10.0.0.0/24", "10.0.0.0/24", true],
    ["10.0.0.0/24", "10.0.1.0/24", false],
    ["10.0.0.0/16", "10.0.200.0/24", true],
    ["10.0.200.0/24", "10.0.0.0/16", true],
    ["10.0.0.0/8", "11.0.0.0/8", false],
    ["192.168.0.0/30", "192.168.0.4/30", false],
    ["192.168.0.0/29", "192.168.0.4/30", true],
    ["10.255.255.252/30", "10.0.0.0/8", true],
  ])("%s vs %s → %s", (a, b, expected) => {
    expect(cidrsOverlap(a, b)).toBe(expected);
    expect(cidrsOverlap(b, a)).toBe(expected);
  });
});

describe("validateNetworkPlan", () => {
  it.each([
    [
      { cidr: "10.0.0.0/24", gateway: "10.0.0.1" },
      { cidr: "10.0.0.0/24", gateway: "10.0.0.1", poolStart: "10.0.0.1", poolEnd: "10.0.0.254" },
    ],
    [
      { cidr: "10.0.0.0/24", gateway: "10.0.0.254", poolStart: "10.0.0.100", poolEnd: "10.0.0.199" },
      { cidr: "10.0.0.0/24", gateway: "10.0.0.254", poolStart: "10.0.0.100", poolEnd: "10.0.0.199" },
    ],
    [
      { cidr: "10.0.0.0/24", gateway: "10.0.0.1", poolStart: "", poolEnd: null },
      { cidr: "10.0.0.0/24", gateway: "10.0.0.1", poolStart: "10.0.0.1", poolEnd: "10.0.0.254" },
    ],
    [
      { cidr: "10.0.0.0/30", gateway: "10.0.0.1" },
      { cidr: "10.0.0.0/30", gateway: "10.0.0.1", poolStart: "10.0.0.1", poolEnd: "10.0.0.2" },
    ],
    [
      { cidr: "10.0.0.0/24", gateway: "10.0.0.1", poolStart: "10.0.0.9", poolEnd: "10.0.0.9" },
      { cidr: "10.0.0.0/24", gateway: "10.0.0.1", poolStart: "10.0.0.9", poolEnd: "10.0.0.9" },
    ],
  ])("%j is valid", (input, plan) => {
    expect(validateNetworkPlan(input)).toEqual({ ok: true, plan });
  });

  it.each([
    [{ cidr: "10.0.0.0/24", gateway: "10.0.1.1" }, "gateway", "gateway 10.0.1.1 is outside 10.0.0.0/24"],
    [{ cidr: "10.0.0.0/24", gateway: "10.0.0.0" }, "gateway", "gateway 10.0.0.0 is the network address of 10.0.0.0/24"],
    [
      { cidr: "10.0.0.0/24", gateway: "10.0.0.255" },
      "gateway",
      "gateway 10.0.0.255 is the broadcast address of 10.0.0.0/24",
    ],
    [{ cidr: "10.0.0.0/24", gateway: "nope" }, "gateway", 'gateway "nope" is not an IPv4 address'],
    [
      { cidr: "10.0.0.0/33", gateway: "10.0.0.1" },
      "cidr",
      "prefix /33 is not supported; use /8 to /30 (a /31 or /32 has no room for a gateway and guests)",
    ],
    [
      { cidr: "10.0.0.0/24", gateway: "10.0.0.1", poolStart: "10.0.0.50", poolEnd: "10.0.0.10" },
      "poolEnd",
      "pool end 10.0.0.10 is before pool start 10.0.0.50",
    ],
    [
      { cidr: "10.0.0.0/24", gateway: "10.0.0.1", poolStart: "10.0.1.5" },
      "poolStart",
      "pool start 10.0.1.5 is outside the usable range of 10.0.0.0/24 (10.0.0.1–10.0.0.254)",
    ],
    [
      { cidr: "10.0.0.0/24", gateway: "10.0.0.1", poolEnd: "10.0.0.255" },
      "poolEnd",
      "pool end 10.0.0.255 is outside the usable range of 10.0.0.0/24 (10.0.0.1–10.0.0.254)",
    ],
    [
      { cidr: "10.0.0.0/24", gateway: "10.0.0.1", poolStart: "10.0.0.0" },
      "poolStart",
      "pool start 10.0.0.0 is outside the usable range of 10.0.0.0/24 (10.0.0.1–10.0.0.254)",
    ],
    [
      { cidr: "10.0.0.0/24", gateway: "10.0.0.1", poolStart: "x" },
      "poolStart",
      'pool start "x" is not an IPv4 address',
    ],
    [
      { cidr: "10.0.0.0/24", gateway: "10.0.0.1", poolStart: "10.0.0.1", poolEnd: "10.0.0.1" },
      "poolEnd",
      "the pool 10.0.0.1–10.0.0.1 holds only the gateway; it has no address for a VM",
    ],
  ])("%j → %s: %s", (input, field, message) => {
    const r = validateNetworkPlan(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues).toContainEqual({ field, message });
  });

  it("reports every problem at once", () => {
    const r = validateNetworkPlan({
      cidr: "10.0.0.0/24",
      gateway: "10.9.0.1",
      poolStart: "10.0.0.200",
      poolEnd: "10.0.0.100",
    });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues.map((i) => i.field).sort()).toEqual(["gateway", "poolEnd"]);
  });
});

describe("pool accounting and next free address", () => {
  const p24: NetworkPlan = { cidr: "10.0.0.0/24", gateway: "10.0.0.1", poolStart: "10.0.0.1", poolEnd: "10.0.0.254" };
  const p28: NetworkPlan = { cidr: "10.0.5.0/28", gateway: "10.0.5.1", poolStart: "10.0.5.2", poolEnd: "10.0.5.11" };
  const gwMid: NetworkPlan = { cidr: "10.0.0.0/29", gateway: "10.0.0.3", poolStart: "10.0.0.1", poolEnd: "10.0.0.6" };

  it.each([
    [p24, 253],
    [p28, 10],
    [gwMid, 5],
    [{ cidr: "10.0.0.0/30", gateway: "10.0.0.1", poolStart: "10.0.0.1", poolEnd: "10.0.0.2" }, 1],
    [{ cidr: "10.0.0.0/8", gateway: "10.0.0.1", poolStart: "10.0.0.1", poolEnd: "10.255.255.254" }, 16777213],
  ])("poolSize(%j) = %d", (plan, size) => {
    expect(poolSize(plan)).toBe(size);
  });

  it.each([
    [p24, [], "10.0.0.2"],
    [p24, ["10.0.0.2", "10.0.0.3"], "10.0.0.4"],
    [p24, ["10.0.0.3"], "10.0.0.2"],
    [p28, [], "10.0.5.2"],
    [gwMid, ["10.0.0.1", "10.0.0.2"], "10.0.0.4"],
    [
      p28,
      ["10.0.5.2", "10.0.5.3", "10.0.5.4", "10.0.5.5", "10.0.5.6", "10.0.5.7", "10.0.5.8", "10.0.5.9", "10.0.5.10"],
      "10.0.5.11",
    ],
    [
      p28,
      [
        "10.0.5.2",
        "10.0.5.3",
        "10.0.5.4",
        "10.0.5.5",
        "10.0.5.6",
        "10.0.5.7",
        "10.0.5.8",
        "10.0.5.9",
        "10.0.5.10",
        "10.0.5.11",
      ],
      null,
    ],
    [{ cidr: "10.0.0.0/30", gateway: "10.0.0.1", poolStart: "10.0.0.1", poolEnd: "10.0.0.2" }, ["10.0.0.2"], null],
  ])("nextFreeAddress(%j, %j) = %s", (plan, used, expected) => {
    expect(nextFreeAddress(plan, used)).toBe(expected);
  });

  it("counts only distinct in-pool addresses as used", () => {
    const used = ["10.0.5.2", "10.0.5.2", "10.0.5.1", "10.0.5.12", "10.0.5.200", "junk", "10.0.5.11"];
    expect(usedInPool(p28, used)).toBe(2);
    expect(freeCount(p28, used)).toBe(8);
    expect(inPool(p28, "10.0.5.1")).toBe(false);
    expect(inPool(p28, "10.0.5.11")).toBe(true);
    expect(inPool(p28, "10.0.5.12")).toBe(false);
  });

  it("a /8 pool with a long used prefix stays linear in the used set", () => {
    const used = Array.from({ length: 50_000 }, (_, i) => formatIpv4(parseIpv4("10.0.0.2")! + i));
    const plan: NetworkPlan = {
      cidr: "10.0.0.0/8",
      gateway: "10.0.0.1",
      poolStart: "10.0.0.1",
      poolEnd: "10.255.255.254",
    };
    expect(nextFreeAddress(plan, used)).toBe(formatIpv4(parseIpv4("10.0.0.2")! + 50_000));
    expect(freeCount(plan, used)).toBe(16777213 - 50_000);
  });
});

describe("macFromBytes", () => {
  it.each([
    [[0, 0, 0], "52:54:00:00:00:00"],
    [[0xab, 0x01, 0xff], "52:54:00:ab:01:ff"],
    [[256 + 7, 16, 9], "52:54:00:07:10:09"],
  ])("%j → %s", (bytes, mac) => {
    expect(macFromBytes(bytes)).toBe(mac);
    expect(mac).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
  });

  it("is locally administered unicast", () => {
    const first = parseInt(macFromBytes([1, 2, 3]).slice(0, 2), 16);
    expect(first & 0x02).toBe(0x02);
    expect(first & 0x01).toBe(0);
  });

  it("needs three bytes", () => {
    expect(() => macFromBytes([1, 2])).toThrow();
  });
});
