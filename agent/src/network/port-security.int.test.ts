// Port security on a REAL Open vSwitch (private userspace instance), proven with real frames (ADR 028).
// Two network namespaces A and B hang on one bridge through veth pairs, as a VM hangs on it through
// its tap. From A we write hand-built frames (raw AF_PACKET socket, agent/src/testing/raw-frames.ts);
// a raw listener in B reports which of them arrived. Without port security every spoofed frame
// arrives (the control: proves the listener would see them); with it only A's own MAC/IP get through.
// The listener stops at a final legitimate "marker" frame, sent after the others by a second process
// and of a flow (broadcast UDP) no earlier frame has: the userspace datapath executes one receive
// batch flow by flow in order of first appearance, so everything sent before the marker has been
// forwarded or dropped when the marker comes out. The result does not depend on machine speed.
//
// Like vlan.int.test.ts, the whole test runs in a private network + mount namespace (a netdev-datapath
// ovs-vswitchd opens a kernel tap "ovs-netdev" that a second userspace OVS in the same namespace
// could not open). The namespaces have no default route and no link to anything outside.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { which } from "../host";
import { describeInPrivateNetns, inPrivateNetns, privateNetnsRoot } from "../testing/private-netns";
import { FRAMES_PY } from "../testing/raw-frames";
import { startOvsInstance, type OvsInstance } from "../testing/ovs-instance";
import { until } from "../testing/support";
import { run } from "../util";
import { Ovs, OvsNetwork, deleteTap, tapName } from "./ovs";
import { portSecurityCookie, portSecurityFlows } from "./port-security";

const IN_NETNS = inPrivateNetns("POLYARCH_PORTSEC");
const isRoot = process.getuid?.() === 0;
const skipReason = !["ovs-vsctl", "ovs-ofctl", "ovs-vswitchd", "ovsdb-server", "ovsdb-tool"].every((b) => which(b))
  ? "openvswitch-switch not installed"
  : !isRoot
    ? "needs root (namespaces, veths)"
    : !which("unshare") || !which("ip")
      ? "unshare/ip not installed"
      : !which("python3")
        ? "python3 not installed (raw frame tool)"
        : "";

describe("portSecurityFlows", () => {
  it("drops everything from the port except its MAC with its IP (ARP probe from 0.0.0.0 allowed)", () => {
    const flows = portSecurityFlows("pa0123456789ab", 7, { mac: "52:54:00:AA:bb:01", ip: "10.0.0.5" });
    const c = portSecurityCookie("pa0123456789ab");
    expect(c).toMatch(/^0x[0-9a-f]{1,16}$/);
    expect(flows).toEqual([
      `cookie=${c},table=0,in_port=7,priority=100,actions=drop`,
      `cookie=${c},table=0,in_port=7,priority=110,dl_src=52:54:00:aa:bb:01,ip,nw_src=10.0.0.5,actions=resubmit(,10)`,
      `cookie=${c},table=0,in_port=7,priority=110,dl_src=52:54:00:aa:bb:01,arp,arp_sha=52:54:00:aa:bb:01,arp_spa=10.0.0.5,actions=resubmit(,10)`,
      `cookie=${c},table=0,in_port=7,priority=110,dl_src=52:54:00:aa:bb:01,arp,arp_sha=52:54:00:aa:bb:01,arp_spa=0.0.0.0,actions=resubmit(,10)`,
    ]);
    expect(portSecurityFlows("p", 7, { mac: "52:54:00:aa:bb:01" }).join("\n")).not.toContain("nw_src");
    expect(() => portSecurityFlows("p", 7, { mac: "52:54:00:aa:bb:01,actions=NORMAL" })).toThrow(/invalid MAC/);
    expect(() => portSecurityFlows("p", 7, { mac: "52:54:00:aa:bb:01", ip: "10.0.0.5,ip" })).toThrow(/IPv4/);
    expect(() => portSecurityFlows("p", 0, { mac: "52:54:00:aa:bb:01" })).toThrow(/OpenFlow port/);
    expect(portSecurityCookie("a")).not.toBe(portSecurityCookie("b"));
  });
});

// ================================================================================================
// Outer: re-run this file inside a private network + mount namespace.

describeInPrivateNetns<{ passed: boolean }>({
  title: `port security on real OVS (private netns)`,
  it: "spoofed MACs, IPs and ARP from a port are dropped; its own traffic passes",
  file: import.meta.url,
  envPrefix: "POLYARCH_PORTSEC",
  tag: "port-security",
  skipReason,
  timeoutMs: 180_000,
});

// ================================================================================================
// Inner: the real test, inside the namespace.

const MAC_A = "52:54:00:0a:00:0a";
const MAC_B = "52:54:00:0b:00:0b";
const MAC_X = "52:54:00:66:66:66"; // nobody's
const IP_A = "10.77.0.10";
const IP_B = "10.77.0.20";
const IP_X = "10.77.0.99"; // nobody's
const BCAST = "ff:ff:ff:ff:ff:ff";

type FrameSpec = Record<string, string | number>;

describe.skipIf(!IN_NETNS)("port security (inner, private netns)", () => {
  const root = privateNetnsRoot("POLYARCH_PORTSEC");
  const suffix = crypto.randomBytes(3).toString("hex");
  const bridge = `brps${suffix}`;
  const nsA = `pa-psa-${suffix}`;
  const nsB = `pa-psb-${suffix}`;
  const script = path.join(root, "frames.py");
  let inst: OvsInstance | null = null;
  let ovs: Ovs;
  const listeners: ChildProcess[] = [];

  const ipIn = (ns: string, ...args: string[]) => run("ip", ["netns", "exec", ns, "ip", ...args]);

  beforeAll(async () => {
    fs.writeFileSync(script, FRAMES_PY);
    inst = await startOvsInstance(path.join(root, "ovs"));
    ovs = new Ovs({ db: inst.db, datapath: "netdev" });
    await ovs.ensureBridge(bridge);
    for (const [ns, outer, inner, mac, ip] of [
      [nsA, "vpsa", "ethA", MAC_A, IP_A],
      [nsB, "vpsb", "ethB", MAC_B, IP_B],
    ] as const) {
      await run("ip", ["netns", "add", ns]);
      await run("ip", ["link", "add", outer, "type", "veth", "peer", "name", inner]);
      await run("ip", ["link", "set", inner, "netns", ns]);
      await run("ip", ["link", "set", outer, "up"]);
      await ipIn(ns, "link", "set", "lo", "up");
      await ipIn(ns, "link", "set", inner, "address", mac);
      await ipIn(ns, "addr", "add", `${ip}/24`, "dev", inner); // on-link only: no default route
      await ipIn(ns, "link", "set", inner, "up");
      await ovs.addPort(bridge, outer, 10);
    }
  }, 60_000);

  afterAll(async () => {
    for (const l of listeners) if (l.exitCode === null && l.signalCode === null) l.kill("SIGKILL");
    for (const ns of [nsA, nsB]) await run("ip", ["netns", "del", ns]).catch(() => {});
    for (const l of ["vpsa", "vpsb"]) await run("ip", ["link", "del", l]).catch(() => {});
    await inst?.stop();
  });

  /** Starts B's listener, sends `frames` from A, then the marker; returns the tags B received. */
  async function deliver(frames: FrameSpec[], marker: string): Promise<string[]> {
    const l = spawn("ip", ["netns", "exec", nsB, "python3", script, "listen", "ethB", marker], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    listeners.push(l);
    let out = "";
    let err = "";
    l.stderr!.on("data", (c: Buffer) => (err += c.toString()));
    const done = new Promise<number | null>((resolve) => l.on("exit", (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      l.stdout!.on("data", (c: Buffer) => {
        out += c.toString();
        if (out.startsWith("ready\n")) resolve();
      });
      void done.then((code) => reject(new Error(`listener exited ${code} before ready: ${err}`)));
    });
    const markerFrame = { kind: "udp", dst: BCAST, src: MAC_A, sip: IP_A, dip: IP_B, tag: marker };
    const send = (list: FrameSpec[]) =>
      run("ip", ["netns", "exec", nsA, "python3", script, "send", "ethA", JSON.stringify(list)]);
    await send(frames);
    await send([markerFrame]);
    const code = await done;
    expect(code, `listener: ${out} ${err}`).toBe(0);
    return JSON.parse(out.slice("ready\n".length).trim()) as string[];
  }

  const attack: FrameSpec[] = [
    { kind: "udp", dst: MAC_B, src: MAC_X, sip: IP_A, dip: IP_B, tag: "spoof-mac" },
    { kind: "udp", dst: MAC_B, src: MAC_A, sip: IP_X, dip: IP_B, tag: "spoof-ip" },
    { kind: "udp", dst: MAC_B, src: MAC_X, sip: IP_X, dip: IP_B, tag: "spoof-both" },
    // Gratuitous ARP claiming B's address (with A's true MAC: only the IP is a lie).
    { kind: "arp", dst: BCAST, src: MAC_A, sha: MAC_A, spa: IP_B, tpa: IP_B, tag: "garp-claims-b" },
    { kind: "arp", dst: BCAST, src: MAC_A, sha: MAC_X, spa: IP_A, tpa: IP_B, tag: "arp-spoof-sha" },
    { kind: "ipv6", dst: "33:33:00:00:00:01", src: MAC_A, tag: "ipv6" },
    { kind: "udp", dst: MAC_B, src: MAC_A, sip: IP_A, dip: IP_B, tag: "legit-udp" },
    { kind: "arp", dst: BCAST, src: MAC_A, sha: MAC_A, spa: IP_A, tpa: IP_B, tag: "legit-arp" },
    { kind: "arp", dst: BCAST, src: MAC_A, sha: MAC_A, spa: "0.0.0.0", tpa: IP_A, tag: "arp-probe" },
  ];
  const SPOOFED = ["spoof-mac", "spoof-ip", "spoof-both", "garp-claims-b", "arp-spoof-sha", "ipv6"];

  async function dropCount(port: string): Promise<number> {
    const { stdout } = await ovs.ofctl("dump-flows", bridge, [`cookie=${portSecurityCookie(port)}/-1`]);
    const line = stdout.split("\n").find((l) => l.includes("actions=drop"));
    return Number(/n_packets=(\d+)/.exec(line ?? "")?.[1] ?? NaN);
  }

  it("control: without port security every spoofed frame reaches B", async () => {
    const seen = await deliver(attack, "marker-0");
    for (const t of [...SPOOFED, "legit-udp", "legit-arp", "marker-0"]) expect(seen).toContain(t);
  });

  it("with port security only A's own MAC and IP get through, and the drop rule counts the rest", async () => {
    await ovs.securePort(bridge, "vpsa", { mac: MAC_A, ip: IP_A });
    await ovs.securePort(bridge, "vpsb", { mac: MAC_B, ip: IP_B });
    await ovs.securePort(bridge, "vpsa", { mac: MAC_A, ip: IP_A }); // idempotent
    const before = await dropCount("vpsa");
    const seen = await deliver(attack, "marker-1");
    for (const t of SPOOFED) expect(seen, `spoofed frame "${t}" got through`).not.toContain(t);
    expect(seen).toEqual(expect.arrayContaining(["legit-udp", "legit-arp", "arp-probe", "marker-1"]));
    // Flow statistics reach OpenFlow from the datapath asynchronously (revalidators): wait for them.
    await until(async () => (await dropCount("vpsa")) - before >= SPOOFED.length, "drop rule counts", 30_000, 200);
  });

  it("the kernel stacks of A and B still talk through their secured ports (ARP + IPv4)", async () => {
    const l = spawn("ip", ["netns", "exec", nsB, "python3", script, "listen", "ethB", "kernel-udp"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    listeners.push(l);
    let out = "";
    const done = new Promise<number | null>((resolve) => l.on("exit", (code) => resolve(code)));
    await new Promise<void>((resolve) =>
      l.stdout!.on("data", (c: Buffer) => {
        out += c.toString();
        if (out.startsWith("ready\n")) resolve();
      }),
    );
    // A plain UDP socket in A: the kernel resolves B by ARP first (B's reply passes B's rules), then sends.
    const send =
      "import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n" +
      `for i in range(300):\n  s.sendto(b'PA-TAG:kernel-udp;',('${IP_B}',40000)); time.sleep(0.2)\n`;
    const sender = spawn("ip", ["netns", "exec", nsA, "python3", "-c", send], { stdio: "ignore" });
    listeners.push(sender);
    expect(await done).toBe(0);
    sender.kill("SIGKILL");
    expect(out).toContain("kernel-udp");
  });

  it("OvsNetwork installs the rules when it plugs a VM NIC and removes them when it unplugs it", async () => {
    const net = new OvsNetwork(ovs, bridge);
    const vmId = `vm-${suffix}`;
    const nic = { id: "nic0", vlan: 10, mac: "52:54:00:12:34:56", ip: "10.77.0.30" };
    const tap = tapName(vmId, nic.id);
    try {
      expect(await net.addPort(vmId, nic)).toBe(tap);
      const ofport = await ovs.ofport(tap);
      const dump = async () =>
        (await ovs.ofctl("dump-flows", bridge, [`cookie=${portSecurityCookie(tap)}/-1`])).stdout
          .split("\n")
          .filter((l) => l.includes("cookie="));
      const flows = await dump();
      expect(flows).toHaveLength(4);
      for (const f of flows) expect(f).toContain(`in_port=${ofport}`);
      expect(flows.join("\n")).toContain("nw_src=10.77.0.30");
      // ovs-vswitchd restarted (flows are not persisted): a restarted agent re-applies them (resecurePorts).
      await ovs.ofctl("del-flows", bridge, [`cookie=${portSecurityCookie(tap)}/-1`]);
      expect(await dump()).toEqual([]);
      await net.securePort(vmId, nic, tap);
      expect(await dump()).toHaveLength(4);
      await net.removePort(vmId, nic, tap);
      expect(await dump()).toEqual([]);
      // Nothing else of the port is left either (OVS would keep flows of a deleted port).
      const all = (await ovs.ofctl("dump-flows", bridge)).stdout;
      expect(all).not.toContain(`in_port=${ofport},`);
      await net.removePort(vmId, nic, tap); // idempotent
    } finally {
      await ovs.removePort(bridge, tap).catch(() => {});
      await deleteTap(tap).catch(() => {});
    }
    fs.writeFileSync(path.join(root, "result.json"), JSON.stringify({ passed: true }));
  });
});
