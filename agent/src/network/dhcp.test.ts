import { describe, expect, it } from "vitest";
import {
  dhcpClientFlows,
  dhcpNames,
  dnsmasqArgs,
  netmaskOf,
  networkOf,
  renderHostsfile,
  validateDhcpNic,
  type DhcpNic,
} from "./dhcp-config";
import { DhcpService } from "./dhcp";

const NIC: DhcpNic = {
  vmId: "vm-1",
  nicId: "n0",
  vlan: 10,
  mac: "52:54:00:12:34:56",
  ip: "10.0.0.10",
  prefixLength: 24,
  gateway: "10.0.0.1",
};
const FILES = {
  hostsfile: "/var/lib/pa/dhcp/x/hosts",
  leasefile: "/var/lib/pa/dhcp/x/leases",
  pidfile: "/var/lib/pa/dhcp/x/pid",
};

describe("dhcp names", () => {
  it("are unique per bridge and VLAN, ≤ 15 chars, stable", () => {
    const a = dhcpNames("br-pa", 10);
    expect(a).toEqual(dhcpNames("br-pa", 10));
    expect(a.outer).toMatch(/^pd[0-9a-f]{8}o$/);
    expect(a.inner).toBe(a.outer.slice(0, -1) + "i");
    expect(a.netns).toBe(`pa-dhcp-${a.outer.slice(2, 10)}`);
    for (const n of [a.outer, a.inner]) expect(n.length).toBeLessThanOrEqual(15);
    const others = [dhcpNames("br-pa", 11), dhcpNames("br-pa-arm", 10), dhcpNames("br-pa", 0)];
    expect(new Set([a, ...others].map((n) => n.outer)).size).toBe(4);
  });

  it("refuse a bad bridge or VLAN", () => {
    expect(() => dhcpNames("-x", 1)).toThrow(/bridge/);
    expect(() => dhcpNames("a-very-long-bridge-name", 1)).toThrow(/bridge/);
    for (const v of [-1, 4095, 1.5, NaN]) expect(() => dhcpNames("br-pa", v)).toThrow(/VLAN/);
  });
});

describe("dhcp subnet math", () => {
  it("netmask and network address", () => {
    expect(netmaskOf(24)).toBe("255.255.255.0");
    expect(netmaskOf(8)).toBe("255.0.0.0");
    expect(netmaskOf(30)).toBe("255.255.255.252");
    expect(networkOf("10.1.2.3", 16)).toBe("10.1.0.0");
    expect(networkOf("192.168.7.200", 25)).toBe("192.168.7.128");
  });
});

describe("validateDhcpNic", () => {
  it("accepts a good NIC", () => expect(() => validateDhcpNic(NIC)).not.toThrow());

  it.each([
    [{ mac: "52:54:00:12:34" }, /MAC/],
    [{ mac: "52:54:00:12:34:5G" }, /MAC/],
    [{ mac: "52:54:00:12:34:56\n--dhcp-script=/tmp/x" }, /MAC/],
    [{ mac: "52:54:00:AB:34:56" }, /MAC/],
    [{ ip: "10.0.0.256" }, /IPv4/],
    [{ ip: "10.0.0.010" }, /IPv4/],
    [{ ip: "10.0.0.10,--x" }, /IPv4/],
    [{ gateway: "::1" }, /gateway/],
    [{ prefixLength: 31 }, /prefix/],
    [{ prefixLength: 7 }, /prefix/],
    [{ prefixLength: 24.5 }, /prefix/],
    [{ vlan: 4095 }, /VLAN/],
    [{ vlan: -1 }, /VLAN/],
    [{ gateway: "10.0.1.1" }, /not in/],
    [{ ip: "10.0.0.1" }, /gateway/],
    [{ ip: "10.0.0.255" }, /broadcast/],
    [{ ip: "10.0.0.0" }, /network/],
  ] as [Partial<DhcpNic>, RegExp][])("refuses %o", (patch, err) => {
    expect(() => validateDhcpNic({ ...NIC, ...patch })).toThrow(err);
  });
});

describe("dnsmasq argv", () => {
  it("serves only static hosts on the inner veth, router = gateway, no DNS, files under the state dir", () => {
    const names = dhcpNames("br-pa", 10);
    const args = dnsmasqArgs({ vlan: 10, gateway: "10.0.0.1", prefixLength: 24 }, names, FILES);
    expect(args).toEqual([
      "--keep-in-foreground",
      "--conf-file=/dev/null",
      "--port=0",
      "--bind-interfaces",
      `--interface=${names.inner}`,
      "--except-interface=lo",
      "--dhcp-range=10.0.0.0,static,255.255.255.0,1h",
      "--dhcp-ignore=tag:!known",
      `--dhcp-hostsfile=${FILES.hostsfile}`,
      `--dhcp-leasefile=${FILES.leasefile}`,
      `--pid-file=${FILES.pidfile}`,
      "--dhcp-option=option:router,10.0.0.1",
      "--dhcp-option=option:dns-server",
      "--dhcp-authoritative",
      "--user=root",
      "--log-facility=-",
    ]);
  });

  it("refuses bad values", () => {
    const names = dhcpNames("br-pa", 10);
    const subnet = { vlan: 10, gateway: "10.0.0.1", prefixLength: 24 };
    expect(() => dnsmasqArgs({ ...subnet, gateway: "10.0.0.1,8.8.8.8" }, names, FILES)).toThrow(/gateway/);
    expect(() => dnsmasqArgs({ ...subnet, prefixLength: 33 }, names, FILES)).toThrow(/prefix/);
    expect(() => dnsmasqArgs(subnet, { ...names, inner: "-x" }, FILES)).toThrow(/interface/);
    expect(() => dnsmasqArgs(subnet, names, { ...FILES, hostsfile: "rel/hosts" })).toThrow(/path/);
    expect(() => dnsmasqArgs(subnet, names, { ...FILES, hostsfile: "/a b" })).toThrow(/path/);
    expect(() => dnsmasqArgs(subnet, names, FILES, "1h;x")).toThrow(/lease/);
  });
});

describe("hostsfile", () => {
  it("has one sorted mac,ip line per NIC", () => {
    expect(
      renderHostsfile([
        { mac: "52:54:00:00:00:02", ip: "10.0.0.12" },
        { mac: "52:54:00:00:00:01", ip: "10.0.0.11" },
      ]),
    ).toBe("52:54:00:00:00:01,10.0.0.11\n52:54:00:00:00:02,10.0.0.12\n");
    expect(renderHostsfile([])).toBe("");
  });

  it("refuses what could inject a line or an option", () => {
    expect(() => renderHostsfile([{ mac: "52:54:00:00:00:01\nx", ip: "10.0.0.1" }])).toThrow(/MAC/);
    expect(() => renderHostsfile([{ mac: "52:54:00:00:00:01", ip: "10.0.0.1,ignore" }])).toThrow(/IPv4/);
  });
});

describe("DHCP client flows", () => {
  it("let the port's DHCP client through, keep it from answering DHCP, let answers in", () => {
    const flows = dhcpClientFlows("0xabc", 7, "52:54:00:12:34:56", "10.0.0.10");
    expect(flows).toEqual([
      "cookie=0xabc,table=0,priority=120,in_port=7,udp,tp_src=67,tp_dst=68,actions=drop",
      "cookie=0xabc,table=0,priority=120,in_port=7,dl_src=52:54:00:12:34:56,udp,tp_src=68,tp_dst=67," +
        "nw_src=0.0.0.0,nw_dst=255.255.255.255,actions=resubmit(,20)",
      "cookie=0xabc,table=0,priority=120,in_port=7,dl_src=52:54:00:12:34:56,udp,tp_src=68,tp_dst=67," +
        "nw_src=10.0.0.10,actions=resubmit(,20)",
      "cookie=0xabc,table=20,priority=120,dl_dst=52:54:00:12:34:56,udp,tp_src=67,tp_dst=68,actions=NORMAL",
    ]);
    expect(dhcpClientFlows("0xabc", 7, "52:54:00:12:34:56")).toHaveLength(3);
    expect(() => dhcpClientFlows("0xabc", 0, "52:54:00:12:34:56")).toThrow(/OpenFlow/);
    expect(() => dhcpClientFlows("abc", 7, "52:54:00:12:34:56")).toThrow(/cookie/);
    expect(() => dhcpClientFlows("0xabc", 7, "52:54:00:12:34:56", "x")).toThrow(/IPv4/);
  });
});

describe("DhcpService", () => {
  const ovs = {
    addPort: () => Promise.reject(new Error("no switch")),
    removePort: () => Promise.resolve(),
    ofctl: () => Promise.resolve(),
  };

  it("refuses a relative dnsmasq path and a bad bridge", () => {
    expect(() => new DhcpService({ bridge: "br-pa", ovs, stateDir: "/tmp/x", dnsmasq: "dnsmasq" })).toThrow(/absolute/);
    expect(() => new DhcpService({ bridge: "-br", ovs, stateDir: "/tmp/x", dnsmasq: "/usr/sbin/dnsmasq" })).toThrow();
  });

  it("validates a NIC before anything runs", async () => {
    const svc = new DhcpService({ bridge: "br-pa", ovs, stateDir: "/tmp/x", dnsmasq: "/usr/sbin/dnsmasq" });
    expect(() => svc.register({ ...NIC, mac: "bad" })).toThrow(/MAC/);
    expect(svc.status()).toEqual([]);
    await svc.stop();
  });
});
