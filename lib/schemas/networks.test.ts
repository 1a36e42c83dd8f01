import { describe, expect, it } from "vitest";
import { createNetworkSchema, networkListQuery, updateNetworkSchema } from "./networks";

function issues(input: unknown) {
  const r = createNetworkSchema.safeParse(input);
  // First message per field, as defineAction reports them to the form.
  const out: Record<string, string> = {};
  if (!r.success) for (const i of r.error.issues) out[i.path.join(".")] ??= i.message;
  return out;
}

describe("createNetworkSchema", () => {
  it("fills in the default pool and canonical forms", () => {
    expect(
      createNetworkSchema.parse({
        name: "lan",
        vlanId: "100",
        cidr: " 10.0.0.0/24 ",
        gateway: "10.0.0.1",
        poolStart: "",
        poolEnd: null,
      }),
    ).toEqual({
      name: "lan",
      vlanId: 100,
      cidr: "10.0.0.0/24",
      gateway: "10.0.0.1",
      poolStart: "10.0.0.1",
      poolEnd: "10.0.0.254",
      projectId: null,
    });
  });

  it("takes the owning project; absent, null or empty means shared", () => {
    const base = { name: "lan", vlanId: 100, cidr: "10.0.0.0/24", gateway: "10.0.0.1" };
    expect(createNetworkSchema.parse({ ...base, projectId: " p1 " }).projectId).toBe("p1");
    for (const projectId of [undefined, null, "", "  "])
      expect(createNetworkSchema.parse({ ...base, projectId }).projectId).toBeNull();
    expect(createNetworkSchema.safeParse({ ...base, projectId: "x".repeat(65) }).success).toBe(false);
  });

  it.each([
    [{ vlanId: 5000 }, "vlanId", "VLAN must be between 1 and 4094"],
    [{ vlanId: 0 }, "vlanId", "VLAN must be between 1 and 4094"],
    [{ vlanId: "" }, "vlanId", "VLAN must be between 1 and 4094"],
    [{ vlanId: "abc" }, "vlanId", "VLAN must be between 1 and 4094 (a whole number)"],
    [{ vlanId: 1.5 }, "vlanId", "VLAN must be between 1 and 4094 (a whole number)"],
    [{ gateway: "10.0.1.1" }, "gateway", "gateway 10.0.1.1 is outside 10.0.0.0/24"],
    [{ gateway: "10.0.0.255" }, "gateway", "gateway 10.0.0.255 is the broadcast address of 10.0.0.0/24"],
    [{ gateway: "10.0.0.999" }, "gateway", 'gateway "10.0.0.999" is not an IPv4 address'],
    [
      { cidr: "10.0.0.0/31" },
      "cidr",
      "prefix /31 is not supported; use /8 to /30 (a /31 or /32 has no room for a gateway and guests)",
    ],
    [{ cidr: "10.0.0.7/24" }, "cidr", "10.0.0.7/24 has host bits set; did you mean 10.0.0.0/24?"],
    [{ cidr: "" }, "cidr", "CIDR is required, e.g. 10.0.0.0/24"],
    [{ poolStart: "10.0.0.50", poolEnd: "10.0.0.10" }, "poolEnd", "pool end 10.0.0.10 is before pool start 10.0.0.50"],
    [
      { poolStart: "10.0.1.50" },
      "poolStart",
      "pool start 10.0.1.50 is outside the usable range of 10.0.0.0/24 (10.0.0.1–10.0.0.254)",
    ],
    [{ poolEnd: "nope" }, "poolEnd", 'pool end "nope" is not an IPv4 address'],
    [{ name: "" }, "name", "name is required"],
    [{ name: "bad\nname" }, "name", "name may not contain control characters (tabs, line breaks)"],
    [{ extra: 1 }, "", expect.stringMatching(/extra/)],
  ])("%j → %s: %s", (patch, field, message) => {
    expect(issues({ name: "lan", vlanId: 100, cidr: "10.0.0.0/24", gateway: "10.0.0.1", ...patch })[field]).toEqual(
      message,
    );
  });

  it("reports a bad VLAN and a gateway outside the CIDR together", () => {
    expect(issues({ name: "lan", vlanId: 5000, cidr: "10.0.0.0/24", gateway: "10.0.1.1" })).toEqual({
      vlanId: "VLAN must be between 1 and 4094",
      gateway: "gateway 10.0.1.1 is outside 10.0.0.0/24",
    });
  });

  it("names every missing field", () => {
    expect(Object.keys(issues({})).sort()).toEqual(["cidr", "gateway", "name", "vlanId"]);
  });
});

describe("updateNetworkSchema", () => {
  it("accepts a partial change and null pool bounds (back to the default)", () => {
    expect(updateNetworkSchema.parse({ name: "lan2" })).toEqual({ name: "lan2" });
    expect(updateNetworkSchema.parse({ poolStart: null, poolEnd: "" })).toEqual({ poolStart: null, poolEnd: null });
  });
  it("refuses an empty change, unknown keys and bad formats", () => {
    expect(updateNetworkSchema.safeParse({}).success).toBe(false);
    expect(updateNetworkSchema.safeParse({ mtu: 9000 }).success).toBe(false);
    expect(updateNetworkSchema.safeParse({ vlanId: 4095 }).error?.issues[0]?.message).toBe(
      "VLAN must be between 1 and 4094",
    );
    expect(updateNetworkSchema.safeParse({ cidr: "10.0.0.0/7" }).success).toBe(false);
  });
});

describe("networkListQuery", () => {
  it("has no arch filter and sorts by the network's fields", () => {
    expect(networkListQuery.parse({ sort: "vlanId", status: "in-use" })).toMatchObject({
      sort: "vlanId",
      status: "in-use",
      page: 1,
      pageSize: 25,
    });
    expect(networkListQuery.safeParse({ sort: "password" }).success).toBe(false);
  });
});
