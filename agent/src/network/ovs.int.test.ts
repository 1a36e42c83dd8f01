// Integration test against a REAL Open vSwitch: a private userspace instance in a temp dir.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import crypto from "node:crypto";
import { detectFacts, which } from "../host";
import { startOvsInstance, type OvsInstance } from "../testing/ovs-instance";
import { run } from "../util";
import { Ovs, OvsNetwork, assertIfName, createTap, deleteTap, netDeviceExists, tapName } from "./ovs";

describe("tapName", () => {
  it("is deterministic, short and distinct", () => {
    const a = tapName("vm-1", "nic0");
    expect(a).toBe(tapName("vm-1", "nic0"));
    expect(a.length).toBeLessThanOrEqual(15);
    expect(a).toMatch(/^pa[0-9a-f]{12}$/);
    const names = new Set<string>();
    for (let v = 0; v < 200; v++) for (let n = 0; n < 8; n++) names.add(tapName(`vm-${v}`, `nic${n}`));
    expect(names.size).toBe(1600);
    // "vm-1"/"0nic" vs "vm-10"/"nic": the separator keeps them apart
    expect(tapName("vm-1", "0nic")).not.toBe(tapName("vm-10", "nic"));
  });

  it("interface names refuse option-like and long values", () => {
    expect(() => assertIfName("-rf")).toThrow();
    expect(() => assertIfName("a".repeat(16))).toThrow();
    expect(() => assertIfName("br/x")).toThrow();
    expect(() => assertIfName("br-pa")).not.toThrow();
  });

  it("refuses a non-local ovs db", () => {
    expect(() => new Ovs({ db: "tcp:10.0.0.1:6640", datapath: "netdev" })).toThrow(/unix/);
  });
});

const haveOvs = Boolean(
  which("ovs-vsctl") &&
  which("ovs-vswitchd") &&
  which("ovsdb-server") &&
  fs.existsSync("/usr/share/openvswitch/vswitch.ovsschema"),
);
const isRoot = process.getuid?.() === 0;

describe.skipIf(!haveOvs || !isRoot)(
  "OVS (real, private userspace instance)" +
    (!haveOvs ? " — skipped: openvswitch-switch not installed" : !isRoot ? " — skipped: needs root for taps" : ""),
  () => {
    let dir: string;
    let inst: OvsInstance | null = null;
    const suffix = crypto.randomBytes(3).toString("hex");
    const bridge = `brt${suffix}`; // unique: a netdev bridge is a kernel tap named like the bridge
    const createdTaps: string[] = [];

    beforeAll(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "pa-ovs-"));
      inst = await startOvsInstance(dir);
    });

    afterAll(async () => {
      for (const t of createdTaps) await deleteTap(t).catch(() => {});
      await inst?.stop();
      // the daemons are gone
      for (const f of ["ovs-vswitchd.pid", "ovsdb-server.pid"]) {
        const pidFile = path.join(dir, f);
        if (fs.existsSync(pidFile)) {
          const pid = Number(fs.readFileSync(pidFile, "utf8"));
          let alive = true;
          try {
            process.kill(pid, 0);
          } catch {
            alive = false;
          }
          expect(alive, `${f} still running`).toBe(false);
        }
      }
      expect(netDeviceExists(bridge)).toBe(false);
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it("creates a netdev bridge, a tagged tap port, and removes it", async () => {
      const ovs = new Ovs({ db: inst!.db, datapath: "netdev" });
      await ovs.ensureBridge(bridge);
      await ovs.ensureBridge(bridge); // idempotent
      expect(await ovs.bridgeExists(bridge)).toBe(true);
      const vsctl = (...a: string[]) => run("ovs-vsctl", [`--db=${inst!.db}`, ...a]).then((r) => r.stdout.trim());
      expect(await vsctl("get", "bridge", bridge, "datapath_type")).toBe("netdev");

      const tap = `pt${suffix}a`;
      createdTaps.push(tap);
      await createTap(tap);
      await createTap(tap); // idempotent
      expect(netDeviceExists(tap)).toBe(true);
      await ovs.addPort(bridge, tap, 42, { "polyarch-vm-id": "vm-a" });
      await ovs.addPort(bridge, tap, 42); // idempotent
      expect(await vsctl("list-ports", bridge)).toBe(tap);
      expect(await vsctl("get", "port", tap, "tag")).toBe("42");
      expect(await vsctl("get", "interface", tap, "external_ids:polyarch-vm-id")).toBe("vm-a");
      expect(await ovs.interfaceError(tap)).toBeNull();

      // a changed VLAN applies to an existing port; 0 clears it
      await ovs.addPort(bridge, tap, 7);
      expect(await ovs.portTag(tap)).toBe(7);
      await ovs.addPort(bridge, tap, 0);
      expect(await ovs.portTag(tap)).toBe(0);

      await ovs.removePort(bridge, tap);
      await ovs.removePort(bridge, tap); // idempotent
      expect(await ovs.listPorts(bridge)).toEqual([]);
      await deleteTap(tap);
      await deleteTap(tap);
      expect(netDeviceExists(tap)).toBe(false);
    });

    it("detects the silent kernel-datapath failure (exit 0, bridge without ofport)", async () => {
      if (fs.existsSync("/sys/module/openvswitch")) return; // kernel module present: system datapath works
      const ovs = new Ovs({ db: inst!.db, datapath: "system" });
      const br = `brk${suffix}`;
      await expect(ovs.ensureBridge(br)).rejects.toThrow(/not working.*netdev/);
      await ovs.vsctl(["--if-exists", "del-br", br]);
    });

    it("detects a port whose device does not exist", async () => {
      const ovs = new Ovs({ db: inst!.db, datapath: "netdev" });
      await expect(ovs.addPort(bridge, `nx${suffix}`, 5)).rejects.toThrow(/No such device/);
      await ovs.removePort(bridge, `nx${suffix}`);
    });

    it("facts: OVS available with the private db, userspace datapath without the kernel module", async () => {
      const facts = await detectFacts({ stateDir: path.join(dir, "facts"), machineId: "x", ovsDb: inst!.db });
      expect(facts.ovs.available).toBe(true);
      expect(facts.ovs.version).toMatch(/^\d+\.\d+/);
      if (!fs.existsSync("/sys/module/openvswitch")) expect(facts.ovs.datapath).toBe("netdev");
    });

    it("OvsNetwork: addPort/removePort for a VM NIC", async () => {
      const net = new OvsNetwork(new Ovs({ db: inst!.db, datapath: "netdev" }), bridge);
      const vmId = `vm-${suffix}`;
      const nic = { id: "nic0", vlan: 100, mac: "52:54:00:12:34:56" };
      const expected = tapName(vmId, "nic0");
      createdTaps.push(expected);
      const tap = await net.addPort(vmId, nic);
      expect(tap).toBe(expected);
      expect(netDeviceExists(tap)).toBe(true);
      expect(await net.ovs.listPorts(bridge)).toContain(tap);
      expect(await net.ovs.portTag(tap)).toBe(100);
      await net.removePort(vmId, nic, tap);
      expect(netDeviceExists(tap)).toBe(false);
      expect(await net.ovs.listPorts(bridge)).not.toContain(tap);
    });
  },
);
