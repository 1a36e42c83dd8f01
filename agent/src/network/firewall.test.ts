// The security-group flows as text (firewall.ts, ADR 052): port ranges as value/mask matches and the
// per-port tables. On real OVS with real TCP: firewall.int.test.ts.
import { describe, expect, it } from "vitest";
import type { PortFirewall } from "../../../lib/schemas/security-groups";
import { firewallCookie, firewallFlows, portRangeMasks } from "./firewall";

describe("firewall flows (pure)", () => {
  it("splits port ranges into value/mask matches that cover exactly the range", () => {
    expect(portRangeMasks(22, 22)).toEqual(["22"]);
    expect(portRangeMasks(1, 65535)).toHaveLength(16);
    for (const [lo, hi] of [
      [1000, 1999],
      [22, 80],
      [8080, 8080],
      [1, 65535],
      [49152, 65535],
    ] as const) {
      const covered = new Set<number>();
      for (const m of portRangeMasks(lo, hi)) {
        const [v, mask] = m.includes("/") ? m.split("/").map((x) => Number(x)) : [Number(m), 0xffff];
        for (let p = 0; p <= 0xffff; p++) if ((p & mask!) === v) covered.add(p);
      }
      expect(Math.min(...covered)).toBe(lo);
      expect(Math.max(...covered)).toBe(hi);
      expect(covered.size).toBe(hi - lo + 1);
    }
    expect(() => portRangeMasks(10, 5)).toThrow(/range/);
  });

  it("allows only what a rule names, stateful through conntrack, one zone per port", () => {
    const fw: PortFirewall = {
      rules: [
        { direction: "in", protocol: "tcp", portMin: 22, portMax: 22, remoteCidrs: ["10.0.0.0/24"] },
        { direction: "out", protocol: "any", remoteCidrs: ["0.0.0.0/0"] },
      ],
    };
    const flows = firewallFlows({ port: "pa0123", ofport: 7, mac: "52:54:00:AA:00:01" }, fw);
    const c = firewallCookie("pa0123");
    expect(flows).toContain(`cookie=${c},table=10,priority=50,in_port=7,ip,actions=ct(table=11,zone=7)`);
    expect(flows).toContain(`cookie=${c},table=20,priority=50,dl_dst=52:54:00:aa:00:01,ip,actions=ct(table=21,zone=7)`);
    expect(flows).toContain(
      `cookie=${c},table=21,priority=40,ct_state=+trk+new-est-inv,dl_dst=52:54:00:aa:00:01,tcp,nw_src=10.0.0.0/24,tp_dst=22,` +
        `actions=ct(commit,zone=7),NORMAL`,
    );
    expect(flows).toContain(
      `cookie=${c},table=11,priority=40,ct_state=+trk+new-est-inv,in_port=7,ip,actions=ct(commit,zone=7),resubmit(,20)`,
    );
    expect(flows.filter((f) => f.includes("actions=drop"))).toHaveLength(4);
    // A rule whose remote group has no members matches nothing.
    expect(firewallFlows({ port: "p", ofport: 7, mac: "52:54:00:aa:00:01" }, { rules: [] }).join()).not.toContain(
      "commit",
    );
    expect(() => firewallFlows({ port: "p", ofport: 7, mac: "x,actions=NORMAL" }, fw)).toThrow(/MAC/);
  });
});
