// Router, SNAT and floating IPs (ADR 058) on a REAL Open vSwitch (private userspace instance) with real
// nftables: a "VM" namespace behind a port-secured veth on the VLAN, an "outside" namespace on the external
// bridge (192.0.2.1, TEST-NET-1, the external gateway). Everything runs inside a private network + mount
// namespace this file re-executes itself in (as dhcp.int.test.ts): every address is one the test made.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { startAgent } from "../agent";
import { parseConfig } from "../config";
import { which } from "../host";
import { describeInPrivateNetns, inPrivateNetns, privateNetnsRoot } from "../testing/private-netns";
import { startOvsInstance, type OvsInstance } from "../testing/ovs-instance";
import { run } from "../util";
import { DhcpService } from "./dhcp";
import { Ovs, OvsNetwork } from "./ovs";
import { RouterService } from "./router";
import { NAT_TABLE, routerNames } from "./router-config";
import { dhcpNames } from "./dhcp-config";
import { GatewayNamespaces } from "./router-netns";

const IN_NETNS = inPrivateNetns("POLYARCH_ROUTER");
const isRoot = process.getuid?.() === 0;
const DNSMASQ = which("dnsmasq");
const skipReason = !["ovs-vsctl", "ovs-ofctl", "ovs-vswitchd", "ovsdb-server", "ovsdb-tool"].every((b) => which(b))
  ? "openvswitch-switch not installed"
  : !which("nft")
    ? "nftables not installed"
    : !isRoot
      ? "needs root (namespaces, veths)"
      : !["unshare", "ip", "ethtool", "python3", "busybox", "sysctl", "arping", "conntrack"].every((b) => which(b))
        ? "unshare/ip/ethtool/python3/busybox/sysctl/arping/conntrack not installed"
        : "";

// ================================================================================================
// Outer: re-run this file inside a private network + mount namespace.

describeInPrivateNetns<{ passed: boolean; atomic?: string }>({
  title: `router, SNAT and floating IPs on real OVS + nftables (private netns)`,
  it: "SNAT, floating IPs (DNAT both ways), atomic re-apply and removal, inside a private netns",
  file: import.meta.url,
  envPrefix: "POLYARCH_ROUTER",
  tag: "router",
  skipReason,
  timeoutMs: 300_000,
  after: (result) => {
    if (result.atomic) console.log(`[router] atomic re-PUT: ${result.atomic}`);
  },
});

// ================================================================================================
// Inner: the real test, inside the namespace.

const VLAN = 12;
const GATEWAY = "10.77.0.1";
const VM_IP = "10.77.0.12";
const VM_MAC = "52:54:00:0f:00:0c";
const OUTSIDE_IP = "192.0.2.1";
const ROUTER_IP = "192.0.2.10";
const FLOATING = "192.0.2.50";
const PORT = 8080;

/** Accepts connections; to each it writes the peer's address and closes. Prints "ready". */
const WHO_PY = `
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(64)
print("ready", flush=True)
while True:
    c, a = s.accept()
    try: c.sendall((a[0] + "\\n").encode())
    except Exception: pass
    c.close()
`;

/** Connects, prints the line the server sent (the address it saw us from); exit 1 on failure. */
const ASK_PY = `
import socket, sys
try:
    c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1.5)
    print(c.makefile().readline().strip(), flush=True)
except Exception as e:
    print("FAIL " + type(e).__name__, flush=True); sys.exit(1)
`;

/** Connects every 20 ms for N seconds; prints "ok=<n> fail=<m>". */
const LOOP_PY = `
import os, socket, sys, time
ok = fail = 0
end = time.time() + float(sys.argv[3])
while time.time() < end and not os.path.exists(sys.argv[4]):
    try:
        c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=0.5)
        c.makefile().readline(); c.close(); ok += 1
    except Exception:
        fail += 1
    time.sleep(0.02)
print("ok=%d fail=%d" % (ok, fail), flush=True)
`;

describe.skipIf(!IN_NETNS)("router, SNAT and floating IPs (inner, private netns)", () => {
  const root = privateNetnsRoot("POLYARCH_ROUTER");
  const suffix = crypto.randomBytes(3).toString("hex");
  const bridge = `brri${suffix}`;
  const extBridge = `brre${suffix}`;
  const nsVm = `pa-rtv-${suffix}`;
  const nsOut = `pa-rto-${suffix}`;
  const procs: ChildProcess[] = [];
  let inst: OvsInstance | null = null;
  let ovs: Ovs;
  let namespaces: GatewayNamespaces;
  let dhcp: DhcpService | null = null;
  let routers: RouterService;
  let net: OvsNetwork;
  const logs: string[] = [];
  let atomic = "";
  const log = (level: string, event: string, fields?: object) =>
    logs.push(`${level} ${event} ${JSON.stringify(fields ?? {})}`);
  const names = () => routerNames(bridge, VLAN);
  const nic = { id: "n0", vlan: VLAN, mac: VM_MAC, ip: VM_IP, prefixLength: 24, gateway: GATEWAY };
  const spec = (over: object = {}) => ({
    gateway: `${GATEWAY}/24`,
    // No external gateway: no namespace here gets a default route; the outside is on the external subnet.
    external: { address: `${ROUTER_IP}/24` },
    snat: true,
    floatingIps: [] as { floating: string; fixed: string }[],
    ...over,
  });

  const inNs = (ns: string, ...args: string[]) => run("ip", ["netns", "exec", ns, ...args]);

  function py(ns: string, code: string, ...args: string[]): ChildProcess {
    const p = spawn("ip", ["netns", "exec", ns, "python3", "-c", code, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    procs.push(p);
    return p;
  }

  async function output(p: ChildProcess): Promise<{ code: number | null; out: string }> {
    let out = "";
    p.stdout!.on("data", (c: Buffer) => (out += c.toString()));
    const code = await new Promise<number | null>((r) => p.on("exit", r));
    return { code, out: out.trim() };
  }

  /** The address the server at ip:port saw the client in `ns` as; null when the connection failed. */
  async function ask(ns: string, ip: string, port = PORT): Promise<string | null> {
    const { code, out } = await output(py(ns, ASK_PY, ip, String(port)));
    return code === 0 ? out : null;
  }

  async function serve(ns: string, port = PORT): Promise<void> {
    const p = py(ns, WHO_PY, String(port));
    await new Promise<void>((resolve, reject) => {
      p.stdout!.once("data", () => resolve());
      p.once("exit", (c) => reject(new Error(`server in ${ns} exited with ${c}`)));
    });
  }

  async function pings(ns: string, ip: string): Promise<boolean> {
    return inNs(ns, "busybox", "ping", "-c", "1", "-W", "2", ip).then(
      () => true,
      () => false,
    );
  }

  const uplinkAddrs = async () =>
    (await run("ip", ["-n", names().netns, "-o", "-4", "addr", "show", "dev", names().uplinkInner])).stdout
      .split("\n")
      .map((l) => /inet (\S+)/.exec(l)?.[1])
      .filter(Boolean)
      .sort();

  /** The router service as the agent makes it, on this test's bridges and state dir. */
  const newRouters = () =>
    new RouterService({
      namespaces,
      ovs,
      external: { bridge: extBridge, vlan: 0 },
      stateDir: path.join(root, "state"),
      log,
    });

  beforeAll(async () => {
    await run("ip", ["link", "set", "lo", "up"]); // the private netns's loopback: the agent's API listens there
    inst = await startOvsInstance(path.join(root, "ovs"));
    ovs = new Ovs({ db: inst.db, datapath: "netdev" });
    await ovs.ensureBridge(bridge);
    await ovs.ensureBridge(extBridge);
    namespaces = new GatewayNamespaces({ bridge, ovs, log });
    if (DNSMASQ)
      dhcp = new DhcpService({ bridge, ovs, namespaces, stateDir: path.join(root, "state"), dnsmasq: DNSMASQ, log });
    routers = newRouters();
    net = new OvsNetwork(ovs, bridge, undefined, dhcp);
    for (const [ns, outer, inner, br, vlan, addr, via] of [
      [nsVm, "vrtv", "ethV", bridge, VLAN, `${VM_IP}/24`, GATEWAY],
      [nsOut, "vrto", "ethO", extBridge, 0, `${OUTSIDE_IP}/24`, null],
    ] as const) {
      await run("ip", ["netns", "add", ns]);
      await run("ip", ["link", "add", outer, "type", "veth", "peer", "name", inner, "netns", ns]);
      await run("ip", ["link", "set", outer, "up"]);
      await inNs(ns, "ip", "link", "set", "lo", "up");
      if (ns === nsVm) await inNs(ns, "ip", "link", "set", inner, "address", VM_MAC);
      await inNs(ns, "ip", "addr", "add", addr, "dev", inner);
      await inNs(ns, "ip", "link", "set", inner, "up");
      await inNs(ns, "ethtool", "-K", inner, "tx", "off");
      // The "VM" reaches the external subnet through its gateway (a route to it, never a default route).
      if (via) await inNs(ns, "ip", "route", "add", "192.0.2.0/24", "via", via);
      await ovs.addPort(br, outer, vlan);
    }
    // The VM's port: port security (and, with dnsmasq, a DHCP registration that shares the namespace).
    await net.securePort("vm-r", nic, "vrtv");
    await serve(nsVm);
    await serve(nsOut);
  }, 60_000);

  afterAll(async () => {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
    await routers?.stop().catch(() => {});
    await dhcp?.stop().catch(() => {});
    for (const ns of [nsVm, nsOut]) await run("ip", ["netns", "del", ns]).catch(() => {});
    await inst?.stop();
    if (logs.length) console.log(`[router] service log:\n${logs.slice(-30).join("\n")}`);
  });

  it("without a router the VM and the outside cannot reach each other", async () => {
    expect(await ask(nsVm, OUTSIDE_IP)).toBeNull();
    expect(await ask(nsOut, FLOATING)).toBeNull();
    if (dhcp) expect(namespaces.holdersOf(VLAN)).toEqual(["dhcp"]);
  });

  it("snat off and no floating IP: nothing leaves, nothing comes in", async () => {
    await routers.put(VLAN, spec({ snat: false }));
    expect(await ask(nsVm, OUTSIDE_IP)).toBeNull();
    expect(await pings(nsVm, OUTSIDE_IP)).toBe(false);
  });

  it("(1) with snat the VM reaches the outside (TCP, ICMP) as the router's external address", async () => {
    const st = await routers.put(VLAN, spec());
    expect(st).toMatchObject({ vlan: VLAN, netns: names().netns, uplink: names().uplinkOuter });
    expect(await ask(nsVm, OUTSIDE_IP)).toBe(ROUTER_IP);
    expect(await pings(nsVm, OUTSIDE_IP)).toBe(true);
    // One namespace, one interface with the gateway address (shared with DHCP when it runs).
    const { stdout } = await run("ip", ["-n", names().netns, "-o", "-4", "addr", "show"]);
    expect(stdout.split("\n").filter((l) => l.includes(` ${GATEWAY}/24 `))).toHaveLength(1);
    expect(namespaces.holdersOf(VLAN).sort()).toEqual(dhcp ? ["dhcp", "router"] : ["router"]);
    expect((await inNs(names().netns, "sysctl", "-n", "net.ipv4.ip_forward")).stdout.trim()).toBe("1");
    // The router itself answers pings from the outside and nothing else (a server in it stays unreachable).
    expect(await pings(nsOut, ROUTER_IP)).toBe(true);
    const inRouter = py(names().netns, WHO_PY, "8081");
    await new Promise((r) => inRouter.stdout!.once("data", r));
    expect(await ask(nsVm, GATEWAY, 8081)).toBe(VM_IP);
    expect(await ask(nsOut, ROUTER_IP, 8081)).toBeNull();
    inRouter.kill("SIGKILL");
    // The outside cannot reach the fixed address through the router, even with a route to it.
    await inNs(nsOut, "ip", "route", "add", "10.77.0.0/24", "via", ROUTER_IP);
    expect(await ask(nsOut, VM_IP)).toBeNull();
  });

  it("(2, 3) a floating IP reaches the VM (which sees the client) and is the VM's source outbound", async () => {
    await routers.put(VLAN, spec({ floatingIps: [{ floating: FLOATING, fixed: VM_IP }] }));
    expect(await ask(nsOut, FLOATING)).toBe(OUTSIDE_IP); // answered by the VM's server: it saw 192.0.2.1
    expect(await pings(nsOut, FLOATING)).toBe(true);
    expect(await ask(nsVm, OUTSIDE_IP)).toBe(FLOATING);
    expect(await uplinkAddrs()).toEqual([`${ROUTER_IP}/24`, `${FLOATING}/32`].sort());
    // Re-applying the same spec changes nothing and keeps working (idempotent).
    await routers.put(VLAN, spec({ floatingIps: [{ floating: FLOATING, fixed: VM_IP }] }));
    expect(await ask(nsOut, FLOATING)).toBe(OUTSIDE_IP);
    const tables = (await inNs(names().netns, "nft", "list", "tables")).stdout.trim();
    expect(tables).toBe(`table ip ${NAT_TABLE}`);
  });

  it("(5) re-PUT with a changed floating IP list is atomic: an unchanged floating IP never stops answering", async () => {
    const keep = { floating: FLOATING, fixed: VM_IP };
    const a = spec({ floatingIps: [keep, { floating: "192.0.2.51", fixed: "10.77.0.13" }] });
    const b = spec({ floatingIps: [{ floating: "192.0.2.52", fixed: "10.77.0.14" }, keep] });
    // A connect loop runs for as long as the re-PUTs take (a fixed count: not a race against the clock).
    const stop = path.join(root, "loop-stop");
    const loop = output(py(nsOut, LOOP_PY, FLOATING, String(PORT), "120", stop));
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    const puts = 8;
    for (let i = 0; i < puts; i++) await routers.put(VLAN, i % 2 ? b : a);
    const ms = Date.now() - t0;
    fs.writeFileSync(stop, "");
    const { out } = await loop;
    const m = /ok=(\d+) fail=(\d+)/.exec(out);
    atomic = `${puts} re-PUTs in ${ms} ms during a connect loop to the unchanged floating IP: ${out}`;
    expect(Number(m?.[1])).toBeGreaterThan(puts);
    expect(Number(m?.[2])).toBe(0);
    const last = (puts - 1) % 2 ? b : a;
    const other = last === a ? "192.0.2.52" : "192.0.2.51";
    const added = last === a ? "192.0.2.51" : "192.0.2.52";
    expect(await uplinkAddrs()).toEqual([`${ROUTER_IP}/24`, `${FLOATING}/32`, `${added}/32`].sort());
    expect(await uplinkAddrs()).not.toContain(`${other}/32`);
    expect(await ask(nsOut, FLOATING)).toBe(OUTSIDE_IP);
  });

  it("a floating IP that moves to another host is announced (gratuitous ARP) and its old connections are forgotten", async () => {
    // A second host's router on the same external network: its own VM bridge, namespace and uplink.
    const bridge2 = `brrj${suffix}`;
    await ovs.ensureBridge(bridge2);
    const ns2 = new GatewayNamespaces({ bridge: bridge2, ovs, log });
    const other = new RouterService({
      namespaces: ns2,
      ovs,
      external: { bridge: extBridge, vlan: 0 },
      stateDir: path.join(root, "state-other"),
      log,
    });
    const names2 = routerNames(bridge2, VLAN);
    const macOf = async (ns: string, dev: string) =>
      (JSON.parse((await run("ip", ["-n", ns, "-j", "link", "show", "dev", dev])).stdout) as { address: string }[])[0]!
        .address;
    const neighbour = async () =>
      (JSON.parse((await run("ip", ["-n", nsOut, "-j", "neigh", "show", FLOATING])).stdout) as { lladdr?: string }[])[0]
        ?.lladdr;
    const tracked = async (ns: string) =>
      (await inNs(ns, "conntrack", "-L", "-d", FLOATING).catch(() => ({ stdout: "" }))).stdout
        .split("\n")
        .filter((l) => l.includes(FLOATING)).length;
    try {
      await routers.put(VLAN, spec({ floatingIps: [{ floating: FLOATING, fixed: VM_IP }] }));
      expect(await pings(nsOut, FLOATING)).toBe(true); // the outside's ARP entry: this host's uplink
      expect(await ask(nsOut, FLOATING)).toBe(OUTSIDE_IP);
      expect(await tracked(names().netns)).toBeGreaterThan(0);
      expect(await neighbour()).toBe(await macOf(names().netns, names().uplinkInner));
      // The VM "moved": this host gives the address up, the other host takes it.
      await routers.put(VLAN, spec());
      expect(await tracked(names().netns)).toBe(0);
      await other.put(
        VLAN,
        spec({ external: { address: "192.0.2.11/24" }, floatingIps: [{ floating: FLOATING, fixed: VM_IP }] }),
      );
      // No traffic is sent: only the announcement can change the outside's entry (within arping's two tries).
      const moved = await macOf(names2.netns, names2.uplinkInner);
      await expect.poll(neighbour, { timeout: 10_000, interval: 200 }).toBe(moved);

      // Both "hosts" now hold the gateway of VLAN 12. Joined by a trunk (as hosts are by their uplink), a VM
      // must still get its own host's gateway: ARP about the gateway does not cross between hosts.
      await ovs.vsctl([
        ...["add-port", bridge, `pt${suffix}a`, "--", "set", "interface", `pt${suffix}a`, "type=patch"],
        ...[`options:peer=pt${suffix}b`, "--", "add-port", bridge2, `pt${suffix}b`, "--", "set", "interface"],
        ...[`pt${suffix}b`, "type=patch", `options:peer=pt${suffix}a`],
      ]);
      await inNs(nsVm, "ip", "neigh", "flush", "all");
      expect(await pings(nsVm, GATEWAY)).toBe(true);
      const vmGateway = JSON.parse((await run("ip", ["-n", nsVm, "-j", "neigh", "show", GATEWAY])).stdout) as {
        lladdr?: string;
      }[];
      const own = dhcpNames(bridge, VLAN);
      expect(vmGateway.map((n) => n.lladdr)).toEqual([await macOf(own.netns, own.inner)]);
      // the other host's gateway never heard the VM's ARP request
      expect(JSON.parse((await run("ip", ["-n", names2.netns, "-j", "neigh", "show", VM_IP])).stdout)).toEqual([]);
      // and the VMs still reach each other's hosts' networks: only ARP about the gateway stays local
      const flows = (await ovs.ofctl("dump-flows", bridge2)).stdout;
      expect(flows).toContain(`dl_vlan=${VLAN},arp_tpa=${GATEWAY}`);
    } finally {
      await ovs.vsctl(["--if-exists", "del-port", bridge, `pt${suffix}a`]).catch(() => {});
      await other.stop();
      await ovs.vsctl(["--if-exists", "del-br", bridge2]).catch(() => {});
      await routers.put(VLAN, spec());
    }
  });

  it("(4) DELETE removes table, uplink and addresses; the outside and the VM are cut off again", async () => {
    expect(routers.list()).toHaveLength(1);
    expect(await routers.delete(VLAN)).toBe(true);
    expect(routers.list()).toEqual([]);
    expect(fs.existsSync(`/sys/class/net/${names().uplinkOuter}`)).toBe(false);
    expect(await ovs.listPorts(extBridge)).toEqual(["vrto"]);
    expect(await ask(nsOut, FLOATING)).toBeNull();
    expect(await ask(nsVm, OUTSIDE_IP)).toBeNull();
    expect(await pings(nsVm, OUTSIDE_IP)).toBe(false);
    expect(fs.existsSync(path.join(root, "state", "routers", `vlan-${VLAN}.json`))).toBe(false);
    if (dhcp) {
      // The namespace stays for DHCP, without the NAT table and without forwarding.
      expect(fs.existsSync(`/run/netns/${names().netns}`)).toBe(true);
      expect((await inNs(names().netns, "nft", "list", "tables")).stdout.trim()).toBe("");
      expect((await inNs(names().netns, "sysctl", "-n", "net.ipv4.ip_forward")).stdout.trim()).toBe("0");
      await dhcp.unregister("vm-r", "n0");
    }
    expect(fs.existsSync(`/run/netns/${names().netns}`)).toBe(false);
    expect(await ovs.listPorts(bridge)).toEqual(["vrtv"]);
    expect(await routers.delete(VLAN)).toBe(false);
  });

  it("a router alone creates the namespace; stop() removes it and restore() brings it back", async () => {
    await routers.put(VLAN, spec({ floatingIps: [{ floating: FLOATING, fixed: VM_IP }] }));
    expect(namespaces.holdersOf(VLAN)).toEqual(["router"]);
    expect(await ask(nsOut, FLOATING)).toBe(OUTSIDE_IP);
    await routers.stop();
    expect(fs.existsSync(`/run/netns/${names().netns}`)).toBe(false);
    expect(await ask(nsOut, FLOATING)).toBeNull();
    routers = newRouters();
    await routers.restore();
    expect(routers.list()).toEqual([expect.objectContaining({ vlan: VLAN })]);
    expect(await ask(nsOut, FLOATING)).toBe(OUTSIDE_IP);
    expect(await routers.delete(VLAN)).toBe(true);
    expect(fs.existsSync(`/run/netns/${names().netns}`)).toBe(false);
    // A host without an external network refuses routers.
    const none = new RouterService({ namespaces, ovs, external: null, stateDir: path.join(root, "state2") });
    expect(() => none.put(VLAN, spec())).toThrow(/no external network/);
  });

  it("the agent: --external-bridge, PUT/GET/DELETE /v1/routers with the token; stop removes, the next start restores", async () => {
    const stateDir = path.join(root, "agent-state");
    const token = "router-test-token-0123456789";
    const argv = [
      ...["--api-token", token, "--insecure-http", "--listen", "127.0.0.1:0", "--state-dir", stateDir],
      ...["--bridge", bridge, "--ovs-db", inst!.db, "--ovs-datapath", "netdev", "--kvm", "off", "--dhcp", "off"],
      ...["--machine-id", `router-${suffix}`, "--external-bridge", extBridge],
    ];
    const cfg = parseConfig(argv, {});
    if (cfg === "help") throw new Error("help");
    const agentLog = (level: string, event: string, fields?: object) => log(level, `agent ${event}`, fields);
    const api = (url: string, method: string, path: string, body?: unknown) =>
      fetch(`${url}/v1/routers${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    let agent = await startAgent(cfg, agentLog);
    try {
      const health = (await (await fetch(`${agent.url}/v1/health`)).json()) as Record<string, unknown>;
      expect(health.externalNetwork).toBe(true);
      const put = await api(
        agent.url,
        "PUT",
        `/${VLAN}`,
        spec({ floatingIps: [{ floating: FLOATING, fixed: VM_IP }] }),
      );
      expect(put.status, await put.clone().text()).toBe(200);
      expect(await ask(nsOut, FLOATING)).toBe(OUTSIDE_IP);
      expect(await ask(nsVm, OUTSIDE_IP)).toBe(FLOATING);
      const bad = await api(
        agent.url,
        "PUT",
        `/${VLAN}`,
        spec({ floatingIps: [{ floating: "192.0.3.9", fixed: VM_IP }] }),
      );
      expect(bad.status).toBe(400);
      expect(await bad.text()).toMatch(/floatingIps\.0\.floating/);
    } finally {
      await agent.stop();
    }
    expect(fs.existsSync(`/run/netns/${names().netns}`)).toBe(false);
    expect(await ask(nsOut, FLOATING)).toBeNull();
    agent = await startAgent(cfg, agentLog);
    try {
      const list = (await (await api(agent.url, "GET", "")).json()) as { routers: { vlan: number }[] };
      expect(list.routers.map((r) => r.vlan)).toEqual([VLAN]);
      expect(await ask(nsOut, FLOATING)).toBe(OUTSIDE_IP);
      expect((await api(agent.url, "DELETE", `/${VLAN}`)).status).toBe(200);
      expect(await ask(nsOut, FLOATING)).toBeNull();
      expect(fs.existsSync(`/run/netns/${names().netns}`)).toBe(false);
    } finally {
      await agent.stop();
    }
    expect(await ovs.listPorts(extBridge)).toEqual(["vrto"]);
    fs.rmSync(stateDir, { recursive: true, force: true });
    fs.writeFileSync(path.join(root, "result.json"), JSON.stringify({ passed: true, atomic }));
  });
});
