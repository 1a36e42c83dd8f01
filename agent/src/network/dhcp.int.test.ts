// DHCP per network (ADR 057) on a REAL Open vSwitch (private userspace instance) with a real dnsmasq,
// proven by busybox udhcpc in a "guest" namespace behind a veth plugged like a VM NIC (port security on).
// Everything runs inside a private network + mount namespace (as firewall.int.test.ts): no default
// route, no link outside; dnsmasq's namespaces are created inside it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { vmSpecSchema } from "../../../lib/schemas/agent-api";
import { startAgent } from "../agent";
import { parseConfig } from "../config";
import { which } from "../host";
import { describeInPrivateNetns, inPrivateNetns, privateNetnsRoot } from "../testing/private-netns";
import { startOvsInstance, type OvsInstance } from "../testing/ovs-instance";
import { alive, until } from "../testing/support";
import { findFixture } from "../testing/vm-rig";
import { run } from "../util";
import { DhcpService } from "./dhcp";
import { dhcpNames } from "./dhcp-config";
import { deleteTap, Ovs, OvsNetwork, tapName } from "./ovs";

const IN_NETNS = inPrivateNetns("POLYARCH_DHCP");
const isRoot = process.getuid?.() === 0;
const BUSYBOX = which("busybox");
const DNSMASQ = which("dnsmasq");
const skipReason = !["ovs-vsctl", "ovs-ofctl", "ovs-vswitchd", "ovsdb-server", "ovsdb-tool"].every((b) => which(b))
  ? "openvswitch-switch not installed"
  : !DNSMASQ
    ? "dnsmasq not installed (dnsmasq-base)"
    : !BUSYBOX
      ? "busybox not installed"
      : !isRoot
        ? "needs root (namespaces, veths)"
        : !which("unshare") || !which("ip") || !which("ethtool")
          ? "unshare/ip/ethtool not installed"
          : "";

// ================================================================================================
// Outer: re-run this file inside a private network + mount namespace.

describeInPrivateNetns<{ passed: boolean; pids: number[] }>({
  title: `DHCP per network on real OVS + dnsmasq (private netns)`,
  it: "serves exactly the NICs' IPAM addresses, restarts a killed dnsmasq, removes everything with the last NIC",
  file: import.meta.url,
  envPrefix: "POLYARCH_DHCP",
  tag: "dhcp",
  skipReason,
  timeoutMs: 420_000,
  // No dnsmasq outlives the run (they ran in the host's pid namespace).
  after: (result) => {
    for (const pid of result.pids) expect(alive(pid), `dnsmasq ${pid} still running`).toBe(false);
  },
});

// ================================================================================================
// Inner: the real test, inside the namespace.

const ARCHES = [
  { arch: "x86_64", qemu: "qemu-system-x86_64", machine: ["-M", "q35"], console: "ttyS0" },
  { arch: "aarch64", qemu: "qemu-system-aarch64", machine: ["-M", "virt", "-cpu", "cortex-a57"], console: "ttyAMA0" },
] as const;

/** The kernel-boot fixture of an arch (vm-rig's findFixture), if built with polyarch.dhcp support (scripts/fixtures/init.sh). */
function dhcpFixture(arch: "x86_64" | "aarch64"): { kernel: string; initrd: string } | null {
  const f = findFixture(arch);
  if (!f?.initrd) return null;
  try {
    return zlib.gunzipSync(fs.readFileSync(f.initrd)).includes("polyarch.dhcp")
      ? { kernel: f.kernel, initrd: f.initrd }
      : null;
  } catch {
    return null; // not gzip: not ours
  }
}

const VLAN = 10;
const GATEWAY = "10.79.0.1";
const NIC_A = {
  vmId: "vm-a",
  nic: { id: "n0", vlan: VLAN, mac: "52:54:00:0d:00:0a", ip: "10.79.0.10", prefixLength: 24, gateway: GATEWAY },
};
const NIC_B = {
  vmId: "vm-b",
  nic: { id: "n0", vlan: VLAN, mac: "52:54:00:0d:00:0b", ip: "10.79.0.11", prefixLength: 24, gateway: GATEWAY },
};
const MAC_UNKNOWN = "52:54:00:0d:00:ee";

/** udhcpc's script: prints what it was given; the address is applied by nobody (the test only reads it). */
const SCRIPT = `#!/bin/sh
[ "$1" = bound ] && echo "LEASE ip=$ip mask=$mask router=$router dns=$dns serverid=$serverid"
exit 0
`;

describe.skipIf(!IN_NETNS)("DHCP per network (inner, private netns)", () => {
  const root = privateNetnsRoot("POLYARCH_DHCP");
  const suffix = crypto.randomBytes(3).toString("hex");
  const bridge = `brdh${suffix}`;
  const nsGuest = `pa-dhg-${suffix}`;
  const port = "vdhg";
  const pids = new Set<number>();
  let inst: OvsInstance | null = null;
  let ovs: Ovs;
  let dhcp: DhcpService;
  let net: OvsNetwork;
  const logs: string[] = [];

  const ipIn = (ns: string, ...args: string[]) => run("ip", ["netns", "exec", ns, "ip", ...args]);
  const names = () => dhcpNames(bridge, VLAN);
  const currentPid = () => dhcp.status().find((s) => s.vlan === VLAN)?.pid ?? null;

  /** Runs udhcpc in the guest namespace with `mac`; returns the LEASE line or null (no lease). */
  async function lease(mac: string, tries = 4): Promise<string | null> {
    await ipIn(nsGuest, "link", "set", "ethG", "down");
    await ipIn(nsGuest, "link", "set", "ethG", "address", mac);
    await ipIn(nsGuest, "link", "set", "ethG", "up");
    const script = path.join(root, "udhcpc.sh");
    fs.writeFileSync(script, SCRIPT, { mode: 0o755 });
    const argv = ["netns", "exec", nsGuest, BUSYBOX!, "udhcpc", "-i", "ethG", "-f", "-q", "-n"];
    argv.push("-t", String(tries), "-T", "1", "-A", "1", "-s", script);
    const { stdout } = await run("ip", argv, { timeoutMs: 30_000 }).catch((e: { stdout?: string }) => ({
      stdout: e.stdout ?? "",
    }));
    return /^LEASE .*$/m.exec(stdout)?.[0] ?? null;
  }

  beforeAll(async () => {
    inst = await startOvsInstance(path.join(root, "ovs"));
    ovs = new Ovs({ db: inst.db, datapath: "netdev" });
    await ovs.ensureBridge(bridge);
    dhcp = new DhcpService({
      bridge,
      ovs,
      stateDir: path.join(root, "state"),
      dnsmasq: DNSMASQ!,
      setpriv: which("setpriv"),
      backoffMs: 200,
      log: (level, event, fields) => logs.push(`${level} ${event} ${JSON.stringify(fields ?? {})}`),
    });
    net = new OvsNetwork(ovs, bridge, undefined, dhcp);
    await run("ip", ["netns", "add", nsGuest]);
    await run("ip", ["link", "add", port, "type", "veth", "peer", "name", "ethG", "netns", nsGuest]);
    await run("ip", ["link", "set", port, "up"]);
    await ipIn(nsGuest, "link", "set", "lo", "up");
    await run("ip", ["netns", "exec", nsGuest, "ethtool", "-K", "ethG", "tx", "off"]);
    await ovs.addPort(bridge, port, VLAN);
  }, 60_000);

  afterAll(async () => {
    await dhcp?.stop().catch(() => {});
    await run("ip", ["netns", "del", nsGuest]).catch(() => {});
    await run("ip", ["link", "del", port]).catch(() => {});
    await inst?.stop();
    if (logs.length) console.log(`[dhcp] service log:\n${logs.slice(-40).join("\n")}`);
  });

  it("a registered NIC gets exactly its IPAM address, mask and router, and no DNS server", async () => {
    await net.securePort(NIC_A.vmId, NIC_A.nic, port); // port security on, registers with DHCP
    const pid = currentPid();
    expect(pid).toBeGreaterThan(1);
    pids.add(pid!);
    expect(fs.existsSync(`/run/netns/${names().netns}`)).toBe(true);
    expect(await lease(NIC_A.nic.mac)).toBe(`LEASE ip=10.79.0.10 mask=24 router=${GATEWAY} dns= serverid=${GATEWAY}`);
  });

  it("a second NIC on the VLAN is added live (hostsfile + SIGHUP, same dnsmasq)", async () => {
    const pid = currentPid();
    await net.securePort(NIC_B.vmId, NIC_B.nic, port); // the test's single guest port now has B's MAC
    expect(currentPid()).toBe(pid);
    expect(await lease(NIC_B.nic.mac)).toMatch(/^LEASE ip=10\.79\.0\.11 mask=24 router=10\.79\.0\.1 /);
    expect(dhcp.status()).toEqual([expect.objectContaining({ vlan: VLAN, nics: 2, pid })]);
  });

  it("an unknown MAC gets no lease", async () => {
    // The port is secured for the unknown MAC (so port security does not drop it) but it has no address.
    await net.securePort("vm-x", { id: "n0", vlan: VLAN, mac: MAC_UNKNOWN }, port);
    expect(await lease(MAC_UNKNOWN, 3)).toBeNull();
    // It did reach dnsmasq (not dropped on the way), which ignored it.
    expect(logs.some((l) => l.includes(MAC_UNKNOWN) && /DHCPDISCOVER/.test(l))).toBe(true);
    expect(dhcp.status()[0]?.nics).toBe(2);
  });

  it("restarts a killed dnsmasq, which serves again", async () => {
    const pid = currentPid()!;
    process.kill(pid, "SIGKILL");
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && (currentPid() === null || currentPid() === pid))
      await new Promise((r) => setTimeout(r, 100));
    const next = currentPid();
    expect(next).not.toBeNull();
    expect(next).not.toBe(pid);
    pids.add(next!);
    expect(dhcp.status()[0]?.restarts).toBe(1);
    await net.securePort(NIC_A.vmId, NIC_A.nic, port);
    expect(await lease(NIC_A.nic.mac)).toMatch(/^LEASE ip=10\.79\.0\.10 /);
  });

  it("removing the VLAN's last NIC stops dnsmasq and removes its namespace, veth and OVS port", async () => {
    const pid = currentPid()!;
    const { netns, outer } = names();
    await dhcp.unregister(NIC_A.vmId, NIC_A.nic.id);
    expect(alive(pid)).toBe(true); // B is still served
    await dhcp.unregister(NIC_B.vmId, NIC_B.nic.id);
    expect(dhcp.status()).toEqual([]);
    expect(alive(pid)).toBe(false);
    expect(fs.existsSync(`/run/netns/${netns}`)).toBe(false);
    expect(fs.existsSync(`/sys/class/net/${outer}`)).toBe(false);
    expect(await ovs.listPorts(bridge)).toEqual([port]);
  });

  const guestSkip = ARCHES.map((a) =>
    !which(a.qemu) ? `${a.qemu} missing` : !dhcpFixture(a.arch) ? `no ${a.arch} fixture with polyarch.dhcp` : "",
  ).filter(Boolean);
  it.skipIf(guestSkip.length > 0)(
    `real x86_64 and aarch64 guests (TCG) get their address by DHCP on two VLANs${guestSkip.length ? ` — skipped: ${guestSkip.join(", ")}` : ""}`,
    async () => {
      const guests = ARCHES.map((a, i) => ({
        ...a,
        vmId: `vm-${a.arch}`,
        nic: {
          id: "n0",
          vlan: 20 + i,
          mac: `52:54:00:0e:00:0${i + 1}`,
          ip: `10.80.${i}.20`,
          prefixLength: 24,
          gateway: `10.80.${i}.1`,
        },
        log: path.join(root, `serial-${a.arch}.log`),
        proc: null as ChildProcess | null,
      }));
      try {
        for (const g of guests) {
          const tap = await net.addPort(g.vmId, g.nic); // tap + port security + DHCP registration
          const fx = dhcpFixture(g.arch)!;
          const append = `console=${g.console} panic=-1 polyarch.dhcp=1 polyarch.noshell`;
          g.proc = spawn(
            g.qemu,
            [
              ...g.machine,
              ...["-accel", "tcg", "-m", "256", "-nodefaults", "-display", "none", "-no-reboot"],
              ...["-serial", `file:${g.log}`, "-kernel", fx.kernel, "-initrd", fx.initrd, "-append", append],
              ...["-netdev", `tap,id=n0,ifname=${tap},script=no,downscript=no,vnet_hdr=off`],
              ...["-device", `virtio-net-pci,netdev=n0,mac=${g.nic.mac},csum=off,guest_csum=off`],
            ],
            { stdio: "ignore" },
          );
        }
        expect(
          dhcp
            .status()
            .map((s) => s.vlan)
            .sort(),
        ).toEqual([20, 21]);
        const t0 = Date.now();
        await Promise.all(
          guests.map(async (g) => {
            const want = `POLYARCH-NET eth0 addr=${g.nic.ip}/24 mac=${g.nic.mac} via=dhcp`;
            const text = () => (fs.existsSync(g.log) ? fs.readFileSync(g.log, "latin1") : "");
            await until(
              () => {
                if (text().includes("POLYARCH-NET eth0 dhcp-failed"))
                  throw new Error(`${g.arch}: no lease\n${text().slice(-1500)}`);
                if (g.proc!.exitCode !== null) throw new Error(`${g.arch}: QEMU exited\n${text().slice(-1500)}`);
                // The init prints its ready line after the NIC's: both, not the first alone (a loaded machine
                // once read the log between the two).
                return text().includes(want) && text().includes(`POLYARCH-BOOT-OK arch=${g.arch}`);
              },
              `${g.arch} guest to print "${want}" and then POLYARCH-BOOT-OK`,
              150_000,
              500,
            );
            console.log(`[dhcp] ${g.arch} guest: ${want} after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
          }),
        );
      } finally {
        for (const g of guests) {
          if (g.proc && g.proc.exitCode === null) {
            const gone = new Promise((r) => g.proc!.once("exit", r));
            g.proc.kill("SIGKILL");
            await gone;
          }
          await net.removePort(g.vmId, g.nic).catch(() => {}); // unregisters: the VLAN's dnsmasq goes
          await deleteTap(tapName(g.vmId, g.nic.id)).catch(() => {});
        }
      }
      expect(dhcp.status()).toEqual([]);
    },
    200_000,
  );

  it("the agent: a recorded NIC registers at start (resecurePorts) and is served; RunningAgent.stop() removes it all", async () => {
    // A stopped VM as an earlier agent left it: spec.json + state.json naming its plugged port (the guest veth).
    const stateDir = path.join(root, "agent-state");
    const vmDir = path.join(stateDir, "vms", "vm-agent");
    const nic = { ...NIC_A.nic, mac: "52:54:00:0d:00:aa", ip: "10.79.0.30" };
    const spec = vmSpecSchema.parse({
      name: "dhcp-agent",
      arch: "x86_64",
      vcpus: 1,
      memoryMb: 128,
      diskGb: 1,
      boot: { type: "kernel", imageId: "img-none", cmdline: "" },
      nics: [nic],
    });
    fs.mkdirSync(vmDir, { recursive: true });
    fs.writeFileSync(path.join(vmDir, "spec.json"), JSON.stringify(spec));
    fs.writeFileSync(
      path.join(vmDir, "state.json"),
      JSON.stringify({ version: 1, taps: { n0: port }, nicSpecs: { n0: nic } }),
    );
    const cfg = parseConfig(
      [
        ...["--api-token", "dhcp-test-token-0123456789", "--insecure-http", "--listen", "127.0.0.1:0"],
        ...["--state-dir", stateDir, "--bridge", bridge, "--ovs-db", inst!.db, "--ovs-datapath", "netdev"],
        ...["--kvm", "off", "--dhcp", "on", "--machine-id", `dhcp-${suffix}`],
      ],
      {},
    );
    if (cfg === "help") throw new Error("help");
    const agentLog = (level: string, event: string, fields?: object) =>
      logs.push(`agent ${level} ${event} ${JSON.stringify(fields ?? {})}`);
    for (let round = 1; round <= 2; round++) {
      const agent = await startAgent(cfg, agentLog);
      try {
        const netns = `/run/netns/${names().netns}`;
        expect(fs.existsSync(netns), `round ${round}: DHCP namespace after start`).toBe(true);
        expect(await lease(nic.mac)).toMatch(/^LEASE ip=10\.79\.0\.30 mask=24 router=10\.79\.0\.1 /);
      } finally {
        await agent.stop();
      }
      expect(fs.existsSync(`/run/netns/${names().netns}`), `round ${round}: namespace after stop`).toBe(false);
      expect(fs.existsSync(`/sys/class/net/${names().outer}`), `round ${round}: veth after stop`).toBe(false);
      expect(await ovs.listPorts(bridge)).toEqual([port]);
    }
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  it("stop() removes everything; a NIC registered again after a restart is served", async () => {
    await net.securePort(NIC_A.vmId, NIC_A.nic, port);
    const pid = currentPid()!;
    pids.add(pid);
    await dhcp.stop();
    expect(alive(pid)).toBe(false);
    expect(fs.existsSync(`/run/netns/${names().netns}`)).toBe(false);
    expect(fs.existsSync(`/sys/class/net/${names().outer}`)).toBe(false);
    // A new agent run (resecurePorts → securePort) brings it back.
    dhcp = new DhcpService({ bridge, ovs, stateDir: path.join(root, "state"), dnsmasq: DNSMASQ!, backoffMs: 200 });
    net = new OvsNetwork(ovs, bridge, undefined, dhcp);
    await net.securePort(NIC_A.vmId, NIC_A.nic, port);
    pids.add(currentPid()!);
    expect(await lease(NIC_A.nic.mac)).toMatch(/^LEASE ip=10\.79\.0\.10 /);
    await dhcp.stop();
    expect(fs.existsSync(`/run/netns/${names().netns}`)).toBe(false);
    fs.writeFileSync(path.join(root, "result.json"), JSON.stringify({ passed: true, pids: [...pids] }));
  });
});
