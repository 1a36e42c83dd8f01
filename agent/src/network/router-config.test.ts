import { describe, expect, it } from "vitest";
import { MAX_FLOATING_IPS, routerSpecSchema, routerVlanSchema } from "../../../lib/schemas/agent-router";
import { dhcpNames } from "./dhcp-config";
import {
  changedFloatingIps,
  NAT_TABLE,
  renderRuleset,
  routerNames,
  subnetOf,
  uplinkAddresses,
  validateRouterSpec,
} from "./router-config";
import { stableMac } from "./router-netns";

const spec = (over: object = {}) => ({
  gateway: "10.77.0.1/24",
  external: { address: "192.0.2.10/24", gateway: "192.0.2.1" },
  snat: true,
  floatingIps: [{ floating: "192.0.2.50", fixed: "10.77.0.12" }],
  ...over,
});

/** The first issue's path and message, or "ok". */
function firstIssue(v: unknown): string {
  const r = routerSpecSchema.safeParse(v);
  return r.success ? "ok" : `${r.error.issues[0]!.path.join(".")}: ${r.error.issues[0]!.message}`;
}

describe("router names", () => {
  it("share the DHCP namespace of (bridge, VLAN); the uplink veth names are ≤ 15 chars and per bridge", () => {
    const n = routerNames("br-pa", 12);
    expect(n.netns).toBe(dhcpNames("br-pa", 12).netns);
    expect(n.uplinkOuter).toMatch(/^pu[0-9a-f]{8}o$/);
    expect(n.uplinkInner).toBe(n.uplinkOuter.replace(/o$/, "i"));
    expect(routerNames("br-other", 12).uplinkOuter).not.toBe(n.uplinkOuter);
    expect(() => routerNames("br pa", 12)).toThrow(/bridge/);
    expect(() => routerNames("br-pa", 4095)).toThrow(/VLAN/);
  });

  it("stable MACs are locally administered unicast and depend on the seed only", () => {
    expect(stableMac("br-pa:12:uplink")).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    expect(parseInt(stableMac("x").slice(0, 2), 16) & 0x03).toBe(0x02);
    expect(stableMac("br-pa:12:uplink")).toBe(stableMac("br-pa:12:uplink"));
    expect(stableMac("br-pa:12:uplink")).not.toBe(stableMac("br-pa:12:gateway"));
  });
});

describe("router spec validation (lib/schemas/agent-router.ts)", () => {
  it("accepts a full spec; floatingIps default to none; external.gateway is optional", () => {
    expect(firstIssue(spec())).toBe("ok");
    const noFloating: Record<string, unknown> = spec();
    delete noFloating.floatingIps;
    expect(routerSpecSchema.parse(noFloating).floatingIps).toEqual([]);
    expect(firstIssue(spec({ external: { address: "192.0.2.10/24" } }))).toBe("ok");
  });

  it("names the field of every bad input", () => {
    expect(firstIssue(spec({ gateway: "10.77.0.0/24" }))).toMatch(/^gateway: .*not a host address/);
    expect(firstIssue(spec({ gateway: "10.77.0.1" }))).toMatch(/^gateway:/);
    expect(firstIssue(spec({ gateway: "10.77.0.1/31" }))).toMatch(/^gateway:/);
    expect(firstIssue(spec({ gateway: "010.77.0.1/24" }))).toMatch(/^gateway:/);
    expect(firstIssue(spec({ external: { address: "192.0.2.10/24; reboot" } }))).toMatch(/^external\.address:/);
    expect(firstIssue(spec({ external: { address: "192.0.2.10/24", gateway: "192.0.3.1" } }))).toMatch(
      /^external\.gateway: .*not another host/,
    );
    expect(firstIssue(spec({ external: { address: "10.77.0.200/16" } }))).toMatch(/^external\.address: .*overlaps/);
    expect(firstIssue(spec({ snat: "yes" }))).toMatch(/^snat:/);
    expect(firstIssue(spec({ extra: 1 }))).toMatch(/extra|Unrecognized/);
  });

  it("floating IPs: floating in the external subnet, fixed in the network, no duplicates, at most 256", () => {
    const f = (floating: string, fixed: string) => ({ floating, fixed });
    expect(firstIssue(spec({ floatingIps: [f("192.0.3.50", "10.77.0.12")] }))).toMatch(/^floatingIps\.0\.floating:/);
    expect(firstIssue(spec({ floatingIps: [f("192.0.2.10", "10.77.0.12")] }))).toMatch(/^floatingIps\.0\.floating:/);
    expect(firstIssue(spec({ floatingIps: [f("192.0.2.1", "10.77.0.12")] }))).toMatch(/^floatingIps\.0\.floating:/);
    expect(firstIssue(spec({ floatingIps: [f("192.0.2.255", "10.77.0.12")] }))).toMatch(/^floatingIps\.0\.floating:/);
    expect(firstIssue(spec({ floatingIps: [f("192.0.2.50", "10.78.0.12")] }))).toMatch(/^floatingIps\.0\.fixed:/);
    expect(firstIssue(spec({ floatingIps: [f("192.0.2.50", "10.77.0.1")] }))).toMatch(/^floatingIps\.0\.fixed:/);
    expect(firstIssue(spec({ floatingIps: [f("192.0.2.50", "10.77.0.12"), f("192.0.2.50", "10.77.0.13")] }))).toMatch(
      /^floatingIps\.1\.floating: .*twice/,
    );
    expect(firstIssue(spec({ floatingIps: [f("192.0.2.50", "10.77.0.12"), f("192.0.2.51", "10.77.0.12")] }))).toMatch(
      /^floatingIps\.1\.fixed: .*two floating/,
    );
    const many = Array.from({ length: MAX_FLOATING_IPS + 1 }, (_, i) =>
      f(`198.51.${i >> 8}.${(i % 250) + 2}`, "10.77.0.12"),
    );
    expect(firstIssue(spec({ external: { address: "198.51.0.1/16" }, floatingIps: many }))).toMatch(
      /^floatingIps: at most 256/,
    );
  });

  it("the VLAN in the path", () => {
    expect(routerVlanSchema.parse("0")).toBe(0);
    expect(routerVlanSchema.parse("4094")).toBe(4094);
    for (const bad of ["4095", "-1", "01", "1a", "", "1/2"])
      expect(routerVlanSchema.safeParse(bad).success).toBe(false);
  });

  it("validateRouterSpec throws an invalid-coded error naming the field", () => {
    expect(() => validateRouterSpec(spec({ gateway: "x" }))).toThrow(/invalid router: gateway:/);
    try {
      validateRouterSpec({});
    } catch (e) {
      expect((e as { code?: string }).code).toBe("invalid");
    }
  });
});

describe("router ruleset", () => {
  const names = routerNames("br-pa", 12);
  const up = `"${names.uplinkInner}"`;

  it("replaces one table atomically: create-if-missing, delete, define, in one file", () => {
    const r = renderRuleset(12, routerSpecSchema.parse(spec()), names);
    const lines = r.split("\n").filter((l) => !l.startsWith("#"));
    expect(lines.slice(0, 3)).toEqual([
      `table ip ${NAT_TABLE}`,
      `delete table ip ${NAT_TABLE}`,
      `table ip ${NAT_TABLE} {`,
    ]);
    expect(r.match(/^table ip /gm)).toHaveLength(2);
    expect(r).not.toMatch(/flush ruleset|table inet|table ip6/);
  });

  it("DNAT in, SNAT out for a floating IP; SNAT for the subnet with snat; forward only what is NATed", () => {
    const r = renderRuleset(12, routerSpecSchema.parse(spec()), names);
    expect(r).toContain(`iifname ${up} ip daddr 192.0.2.50 dnat to 10.77.0.12`);
    expect(r).toContain(`oifname ${up} ip saddr 10.77.0.12 snat to 192.0.2.50`);
    expect(r).toContain(`oifname ${up} ip saddr 10.77.0.0/24 snat to 192.0.2.10`);
    // the floating IP's SNAT comes before the subnet's
    expect(r.indexOf("snat to 192.0.2.50")).toBeLessThan(r.indexOf("snat to 192.0.2.10"));
    expect(r).toContain(`iifname ${up} ct status dnat accept`);
    expect(r.indexOf(`iifname ${up} ct status dnat accept`)).toBeLessThan(r.indexOf(`iifname ${up} drop`));
    expect(r).toContain(`oifname ${up} ip saddr 10.77.0.0/24 accept`);
    expect(r).toContain(`\t\toifname ${up} drop\n\t}`);
    expect(r).toContain(`\t\ticmp type echo-request accept`.replace("\t\t", `\t\tiifname ${up} `));
    expect(r.trimEnd().split("\n").at(-3)).toBe(`\t\tiifname ${up} drop`);
  });

  it("without snat: no subnet SNAT and no subnet forwarding out; floating IPs still work", () => {
    const r = renderRuleset(12, routerSpecSchema.parse(spec({ snat: false })), names);
    expect(r).not.toContain("10.77.0.0/24");
    expect(r).toContain("dnat to 10.77.0.12");
    const none = renderRuleset(12, routerSpecSchema.parse(spec({ snat: false, floatingIps: [] })), names);
    expect(none).not.toMatch(/dnat to|snat to/);
    expect(none).toContain(`oifname ${up} drop`);
  });

  it("refuses bad names and specs (nothing unvalidated reaches nft)", () => {
    expect(() => renderRuleset(12, routerSpecSchema.parse(spec()), { ...names, uplinkInner: 'a" drop' })).toThrow(
      /interface name/,
    );
    expect(() => renderRuleset(12, { ...routerSpecSchema.parse(spec()), gateway: "1.2.3.4/24; x" }, names)).toThrow(
      /invalid router/,
    );
    expect(() => renderRuleset(5000, routerSpecSchema.parse(spec()), names)).toThrow(/VLAN/);
  });

  it("uplink addresses and the subnet", () => {
    expect(uplinkAddresses(routerSpecSchema.parse(spec()))).toEqual(["192.0.2.10/24", "192.0.2.50/32"]);
    expect(subnetOf("10.77.0.1/24")).toBe("10.77.0.0/24");
    expect(subnetOf("172.16.5.9/12")).toBe("172.16.0.0/12");
    expect(() => subnetOf("10.77.0.0/24")).toThrow();
  });
});

describe("changedFloatingIps", () => {
  const fips = (floatingIps: { floating: string; fixed: string }[]) => ({
    gateway: "10.77.0.1/24",
    external: { address: "192.0.2.10/24" },
    snat: true,
    floatingIps,
  });
  it("names the floating IPs removed or re-mapped, not the kept or new ones", () => {
    const prev = fips([
      { floating: "192.0.2.50", fixed: "10.77.0.12" },
      { floating: "192.0.2.51", fixed: "10.77.0.13" },
      { floating: "192.0.2.52", fixed: "10.77.0.14" },
    ]);
    const next = fips([
      { floating: "192.0.2.50", fixed: "10.77.0.12" },
      { floating: "192.0.2.51", fixed: "10.77.0.20" },
      { floating: "192.0.2.53", fixed: "10.77.0.14" },
    ]);
    expect(changedFloatingIps(prev, next)).toEqual(["192.0.2.51", "192.0.2.52"]);
    expect(changedFloatingIps(undefined, next)).toEqual([]);
    expect(changedFloatingIps(next, next)).toEqual([]);
  });
});
