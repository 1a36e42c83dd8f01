// Security groups on a REAL Open vSwitch (private userspace instance, conntrack in the userspace
// datapath), proven with real TCP connections between two network namespaces (ADR 052).
// Namespace "vm" stands in for a guest behind its tap (a veth plugged like a VM NIC: port security +
// firewall), namespace "peer" is a neighbour on the same VLAN. Everything runs inside a private network
// + mount namespace (as port-security.int.test.ts), with no default route and no link outside.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { PortFirewall } from "../../../lib/schemas/security-groups";
import { which } from "../host";
import { describeInPrivateNetns, inPrivateNetns, privateNetnsRoot } from "../testing/private-netns";
import { startOvsInstance, type OvsInstance } from "../testing/ovs-instance";
import { run } from "../util";
import { firewallCookie } from "./firewall";
import { applyPortFirewall, recordedFirewall, removePortFirewall } from "./ovs-firewall";
import { Ovs, OvsNetwork } from "./ovs";

const IN_NETNS = inPrivateNetns("POLYARCH_FW");
const isRoot = process.getuid?.() === 0;
const skipReason = !["ovs-vsctl", "ovs-ofctl", "ovs-vswitchd", "ovsdb-server", "ovsdb-tool"].every((b) => which(b))
  ? "openvswitch-switch not installed"
  : !isRoot
    ? "needs root (namespaces, veths)"
    : !which("unshare") || !which("ip") || !which("python3") || !which("ethtool")
      ? "unshare/ip/python3/ethtool not installed"
      : "";

// ================================================================================================
// Outer: re-run this file inside a private network + mount namespace.

describeInPrivateNetns<{ passed: boolean }>({
  title: `security groups on real OVS (private netns)`,
  it: "blocks a TCP port, allows it live, keeps established connections and replies",
  file: import.meta.url,
  envPrefix: "POLYARCH_FW",
  tag: "firewall",
  skipReason,
  timeoutMs: 240_000,
});

// ================================================================================================
// Inner: the real test, inside the namespace.

const MAC_VM = "52:54:00:0a:00:0a";
const MAC_PEER = "52:54:00:0b:00:0b";
const IP_VM = "10.78.0.10";
const IP_PEER = "10.78.0.20";

/** Echo server on the given ports (one thread per connection). */
const ECHO_PY = `
import socket, sys, threading
def serve(c):
    while True:
        d = c.recv(1024)
        if not d: break
        c.sendall(d)
def accept(s):
    while True:
        threading.Thread(target=serve, args=(s.accept()[0],), daemon=True).start()
for p in sys.argv[1:]:
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", int(p))); s.listen(16)
    threading.Thread(target=accept, args=(s,), daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
`;

/** One connection; each stdin line is sent and its echo printed (or TIMEOUT). */
const CLIENT_PY = `
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
print("connected", flush=True)
for line in sys.stdin:
    try:
        c.sendall(line.encode()); print("echo " + c.recv(1024).decode().strip(), flush=True)
    except Exception as e:
        print("TIMEOUT", flush=True)
`;

/** exit 0 if a TCP connection + echo works within 1.5 s */
const PROBE_PY = `
import socket, sys
try:
    c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1.5); c.sendall(b"p"); assert c.recv(8) == b"p"
except Exception:
    sys.exit(1)
`;

describe.skipIf(!IN_NETNS)("security groups (inner, private netns)", () => {
  const root = privateNetnsRoot("POLYARCH_FW");
  const suffix = crypto.randomBytes(3).toString("hex");
  const bridge = `brfw${suffix}`;
  const nsVm = `pa-fwv-${suffix}`;
  const nsPeer = `pa-fwp-${suffix}`;
  const procs: ChildProcess[] = [];
  let inst: OvsInstance | null = null;
  let ovs: Ovs;

  const ipIn = (ns: string, ...args: string[]) => run("ip", ["netns", "exec", ns, "ip", ...args]);
  const py = (ns: string, code: string, ...args: string[]) =>
    spawn("ip", ["netns", "exec", ns, "python3", "-c", code, ...args], { stdio: ["pipe", "pipe", "pipe"] });

  function lines(p: ChildProcess): () => Promise<string> {
    const queue: string[] = [];
    const waiters: ((s: string) => void)[] = [];
    let buf = "";
    p.stdout!.on("data", (c: Buffer) => {
      buf += c.toString();
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const l = buf.slice(0, i);
        buf = buf.slice(i + 1);
        const w = waiters.shift();
        if (w) w(l);
        else queue.push(l);
      }
    });
    return () => (queue.length ? Promise.resolve(queue.shift()!) : new Promise((r) => waiters.push(r)));
  }

  async function canConnect(fromNs: string, ip: string, port: number): Promise<boolean> {
    const p = py(fromNs, PROBE_PY, ip, String(port));
    procs.push(p);
    return (await new Promise<number | null>((r) => p.on("exit", r))) === 0;
  }

  const firewall = (fw: PortFirewall | null) => applyPortFirewall(ovs, bridge, "vfwv", fw);

  beforeAll(async () => {
    inst = await startOvsInstance(path.join(root, "ovs"));
    ovs = new Ovs({ db: inst.db, datapath: "netdev" });
    await ovs.ensureBridge(bridge);
    for (const [ns, outer, inner, mac, ip] of [
      [nsVm, "vfwv", "ethV", MAC_VM, IP_VM],
      [nsPeer, "vfwp", "ethP", MAC_PEER, IP_PEER],
    ] as const) {
      await run("ip", ["netns", "add", ns]);
      await run("ip", ["link", "add", outer, "type", "veth", "peer", "name", inner]);
      await run("ip", ["link", "set", inner, "netns", ns]);
      await run("ip", ["link", "set", outer, "up"]);
      await ipIn(ns, "link", "set", "lo", "up");
      await ipIn(ns, "link", "set", inner, "address", mac);
      await ipIn(ns, "addr", "add", `${ip}/24`, "dev", inner); // on-link only: no default route
      await ipIn(ns, "link", "set", inner, "up");
      // The userspace datapath does not fill in offloaded checksums (QEMU NICs: csum=off, argv.ts).
      await run("ip", ["netns", "exec", ns, "ethtool", "-K", inner, "tx", "off"]);
      await ovs.addPort(bridge, outer, 10, { "attached-mac": mac });
      await ovs.securePort(bridge, outer, { mac, ip });
    }
    for (const ns of [nsVm, nsPeer]) {
      const echo = py(ns, ECHO_PY, "2222", "2223");
      procs.push(echo);
      expect(await lines(echo)()).toBe("ready");
    }
  }, 60_000);

  afterAll(async () => {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
    for (const ns of [nsVm, nsPeer]) await run("ip", ["netns", "del", ns]).catch(() => {});
    for (const l of ["vfwv", "vfwp"]) await run("ip", ["link", "del", l]).catch(() => {});
    await inst?.stop();
  });

  type Rule = PortFirewall["rules"][number];
  const allowOut: Rule = { direction: "out", protocol: "any", remoteCidrs: ["0.0.0.0/0"] };
  const allow2222: Rule = {
    direction: "in",
    protocol: "tcp",
    portMin: 2222,
    portMax: 2222,
    remoteCidrs: ["10.78.0.0/24"],
  };

  it("control: without a firewall the peer reaches both ports (port security on)", async () => {
    expect(await canConnect(nsPeer, IP_VM, 2222)).toBe(true);
    expect(await canConnect(nsPeer, IP_VM, 2223)).toBe(true);
  });

  it("default deny-in: a group with only the egress rule blocks TCP into the port; the port's own connections work", async () => {
    await firewall({ rules: [allowOut] });
    expect(await canConnect(nsPeer, IP_VM, 2222)).toBe(false);
    // Outbound from the "VM": allowed by the egress rule, and the replies come back (conntrack).
    expect(await canConnect(nsVm, IP_PEER, 2222)).toBe(true);
  });

  it("a rule added live allows the port; another port and another source range stay blocked", async () => {
    await firewall({ rules: [allowOut, { ...allow2222, remoteCidrs: ["10.99.0.0/24"] }] });
    expect(await canConnect(nsPeer, IP_VM, 2222)).toBe(false);
    await firewall({ rules: [allowOut, allow2222] });
    expect(await canConnect(nsPeer, IP_VM, 2222)).toBe(true);
    expect(await canConnect(nsPeer, IP_VM, 2223)).toBe(false);
    expect(await recordedFirewall(ovs, "vfwv")).toEqual({ rules: [allowOut, allow2222] });
  });

  it("an established connection keeps working while the rules are re-programmed and after its rule is removed", async () => {
    const client = py(nsPeer, CLIENT_PY, IP_VM, "2222");
    procs.push(client);
    const next = lines(client);
    expect(await next()).toBe("connected");
    client.stdin!.write("one\n");
    expect(await next()).toBe("echo one");
    await firewall({ rules: [allowOut, allow2222, { direction: "in", protocol: "udp", remoteCidrs: ["0.0.0.0/0"] }] });
    client.stdin!.write("two\n");
    expect(await next()).toBe("echo two");
    await firewall({ rules: [allowOut] }); // the rule that let it in is gone: new ones are refused …
    expect(await canConnect(nsPeer, IP_VM, 2222)).toBe(false);
    client.stdin!.write("three\n"); // … the established one goes on (conntrack, as AWS security groups)
    expect(await next()).toBe("echo three");
    client.kill("SIGKILL");
  });

  it("between two firewalled ports a connection passes the sender's egress zone and the receiver's ingress zone", async () => {
    await applyPortFirewall(ovs, bridge, "vfwp", { rules: [allowOut] });
    await firewall({ rules: [allowOut, allow2222] });
    expect(await canConnect(nsPeer, IP_VM, 2222)).toBe(true);
    expect(await canConnect(nsPeer, IP_VM, 2223)).toBe(false);
    expect(await canConnect(nsVm, IP_PEER, 2222)).toBe(false); // the peer's own group: deny in
    await applyPortFirewall(ovs, bridge, "vfwp", null);
  });

  it("a port plugged with its spec's firewall takes that one, not the recorded one; null in the spec unfilters it", async () => {
    const net = new OvsNetwork(ovs, bridge);
    const nic = { id: "n", vlan: 10, mac: MAC_VM, ip: IP_VM };
    await firewall({ rules: [allowOut, allow2222] }); // recorded on the port: 2222 open
    await net.securePort("vm-x", nic, "vfwv", { rules: [allowOut] }); // the spec's: deny in
    expect(await canConnect(nsPeer, IP_VM, 2222)).toBe(false);
    expect(await canConnect(nsVm, IP_PEER, 2222)).toBe(true);
    expect(await recordedFirewall(ovs, "vfwv")).toEqual({ rules: [allowOut] });
    await net.securePort("vm-x", nic, "vfwv", null);
    expect(await canConnect(nsPeer, IP_VM, 2222)).toBe(true);
    expect(await recordedFirewall(ovs, "vfwv")).toBeNull();
  });

  it("without an egress rule the port cannot open connections; removing the firewall unfilters it", async () => {
    await firewall({ rules: [allow2222] });
    expect(await canConnect(nsVm, IP_PEER, 2222)).toBe(false);
    expect(await canConnect(nsPeer, IP_VM, 2222)).toBe(true); // replies of an allowed inbound pass
    // Re-securing the port (agent restart, re-plug) clears its flows; the recorded firewall comes back.
    await new OvsNetwork(ovs, bridge).securePort("vm-x", { id: "n", vlan: 10, mac: MAC_VM, ip: IP_VM }, "vfwv");
    expect(await canConnect(nsVm, IP_PEER, 2222)).toBe(false);
    expect(await canConnect(nsPeer, IP_VM, 2222)).toBe(true);
    await firewall(null);
    expect(await canConnect(nsPeer, IP_VM, 2223)).toBe(true);
    expect(await recordedFirewall(ovs, "vfwv")).toBeNull();
    const dump = (await ovs.ofctl("dump-flows", bridge, [`cookie=${firewallCookie("vfwv")}/-1`])).stdout;
    expect(dump).not.toContain("table=");
    await firewall({ rules: [allowOut] });
    await removePortFirewall(ovs, bridge, "vfwv");
    expect((await ovs.ofctl("dump-flows", bridge, [`cookie=${firewallCookie("vfwv")}/-1`])).stdout).not.toContain(
      "table=",
    );
    fs.writeFileSync(path.join(root, "result.json"), JSON.stringify({ passed: true }));
  });
});
