import { describe, expect, it } from "vitest";
import {
  createExternalNetworkSchema,
  createFloatingIpSchema,
  createRouterSchema,
  externalPlanIssues,
  updateFloatingIpSchema,
  updateRouterSchema,
} from "./routers";

const messages = (r: { success: boolean; error?: { issues: Array<{ path: PropertyKey[]; message: string }> } }) =>
  r.success ? [] : r.error!.issues.map((i) => `${i.path.join(".")}: ${i.message}`);

describe("external network input", () => {
  it("fills the default pool (the usable range) and canonicalises; the gateway is optional", () => {
    expect(createExternalNetworkSchema.parse({ name: " provider ", cidr: "203.0.113.0/24" })).toEqual({
      name: "provider",
      cidr: "203.0.113.0/24",
      gateway: null,
      poolStart: "203.0.113.1",
      poolEnd: "203.0.113.254",
    });
    expect(
      createExternalNetworkSchema.parse({
        name: "p",
        cidr: "198.51.100.0/24",
        gateway: "198.51.100.1",
        poolStart: "198.51.100.10",
        poolEnd: "",
      }),
    ).toMatchObject({ gateway: "198.51.100.1", poolStart: "198.51.100.10", poolEnd: "198.51.100.254" });
  });

  it("names each wrong field", () => {
    const r = createExternalNetworkSchema.safeParse({
      name: "p",
      cidr: "203.0.113.0/24",
      gateway: "10.0.0.1",
      poolStart: "203.0.113.50",
      poolEnd: "203.0.113.20",
    });
    expect(messages(r)).toEqual([
      "gateway: gateway 10.0.0.1 is outside 203.0.113.0/24",
      "poolEnd: pool end 203.0.113.20 is before pool start 203.0.113.50",
    ]);
    expect(messages(createExternalNetworkSchema.safeParse({ name: "p", cidr: "203.0.113.7/24" }))[0]).toMatch(
      /^cidr: /,
    );
    expect(messages(createExternalNetworkSchema.safeParse({ name: "p", cidr: "203.0.113.0/31" }))[0]).toMatch(
      /is not supported; use \/8 to \/30/,
    );
    expect(messages(createExternalNetworkSchema.safeParse({ name: "", cidr: "203.0.113.0/24", x: 1 }))).toEqual(
      expect.arrayContaining(["name: name is required", expect.stringMatching(/Unrecognized key/)]),
    );
    expect(
      messages(createExternalNetworkSchema.safeParse({ name: "p", cidr: "203.0.113.0/24", gateway: "1.2.3" })),
    ).toEqual(['gateway: gateway "1.2.3" is not an IPv4 address']);
  });

  it("without a gateway, the pool may start at the first address", () => {
    expect(externalPlanIssues({ cidr: "192.0.2.0/30", poolStart: "192.0.2.1", poolEnd: "192.0.2.1" })).toEqual([]);
    expect(
      externalPlanIssues({ cidr: "192.0.2.0/30", gateway: "192.0.2.1", poolStart: "192.0.2.1", poolEnd: "192.0.2.1" }),
    ).toHaveLength(1);
  });
});

describe("router and floating IP input", () => {
  it("router: snat defaults to on; unknown keys and empty ids are refused", () => {
    expect(createRouterSchema.parse({ name: "edge", networkId: "n1", externalNetworkId: "e1" }).snat).toBe(true);
    expect(
      messages(createRouterSchema.safeParse({ name: "edge", networkId: "", externalNetworkId: "e1", vlan: 3 })),
    ).toEqual(expect.arrayContaining(["networkId: networkId is required", expect.stringMatching(/Unrecognized key/)]));
    expect(updateRouterSchema.safeParse({}).success).toBe(false);
    expect(updateRouterSchema.parse({ snat: false })).toEqual({ snat: false });
  });

  it("floating IP: nicId null unmaps, absent keeps; a patch must change something", () => {
    expect(updateFloatingIpSchema.parse({ nicId: null })).toEqual({ nicId: null });
    expect(updateFloatingIpSchema.safeParse({}).success).toBe(false);
    expect(createFloatingIpSchema.safeParse({ externalNetworkId: "e".repeat(65) }).success).toBe(false);
    expect(createFloatingIpSchema.parse({ externalNetworkId: " e1 " })).toEqual({ externalNetworkId: "e1" });
  });
});
