import { describe, expect, it } from "vitest";
import { hostFactsSchema } from "./agent-api";
import { SAMPLE_HOST_FACTS as facts } from "./host-facts-fixture";

describe("hostFactsSchema: network (ADR 057, 058)", () => {
  it("accepts facts without it (an older agent) and leaves it absent", () => {
    const parsed = hostFactsSchema.parse(facts);
    expect(parsed).toEqual(facts);
    expect("network" in parsed).toBe(false);
  });

  it.each([
    { dhcp: true, externalNetwork: true },
    { dhcp: false, externalNetwork: true },
    { dhcp: true, externalNetwork: false },
    { dhcp: false, externalNetwork: false },
  ])("keeps %j", (network) => {
    expect(hostFactsSchema.parse({ ...facts, network }).network).toEqual(network);
  });

  it("strips unknown keys inside it, like everywhere in the facts", () => {
    expect(
      hostFactsSchema.parse({ ...facts, network: { dhcp: true, externalNetwork: false, bridges: 3 } }).network,
    ).toEqual({ dhcp: true, externalNetwork: false });
  });

  it.each([
    [{ dhcp: "yes", externalNetwork: true }, "network.dhcp"],
    [{ dhcp: true, externalNetwork: 1 }, "network.externalNetwork"],
    [{ dhcp: true }, "network.externalNetwork"],
    [{ externalNetwork: false }, "network.dhcp"],
    [{ dhcp: null, externalNetwork: false }, "network.dhcp"],
    [true, "network"],
    [null, "network"],
    [[], "network"],
  ])("refuses network %j (at %s)", (network, where) => {
    const r = hostFactsSchema.safeParse({ ...facts, network });
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => i.path.join("."))).toContain(where);
  });
});
