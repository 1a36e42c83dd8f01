import { test, expect, type APIRequestContext } from "@playwright/test";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { adminApi, startMixedFleet, waitForFleetOnline, type Fleet } from "./console-helpers";
import { SerialShell } from "./serial-shell";
import type { Outside } from "../scripts/fleet/outside.mjs";

// Two VMs ping each other through the controller's networks (issue #6): everything goes through
// the controller's API — networks A (VLAN 100) and B (VLAN 200), three aarch64 kernel-boot demo VMs
// (the quickest to boot under TCG; placed on the fleet's aarch64 host), and the serial consoles
// through console tickets. Guest traffic stays on the fleet's private userspace OVS bridges; this
// process only talks to the controller on 127.0.0.1. The third test adds a router with SNAT and a
// floating IP (ADR 058/059): the "outside" is a namespace this test makes on the fleet's external
// bridge (203.0.113.1/24, TEST-NET-3, no default route, no route to the VMs), pinged from inside it.
let fleet: Fleet;
type SeededHost = { id: string; name: string; adminState: string };
const disabledSeeds: string[] = [];
let admin: APIRequestContext;
const ARCH = "aarch64";
const NETS = {
  a: { name: "e2e-ping-a", vlanId: 100, cidr: "10.77.0.0/24", gateway: "10.77.0.1" },
  b: { name: "e2e-ping-b", vlanId: 200, cidr: "10.78.0.0/24", gateway: "10.78.0.1" },
} as const;
const networkIds: Partial<Record<keyof typeof NETS, string>> = {};
type Guest = { key: "vm1" | "vm2" | "vm3"; net: keyof typeof NETS; id?: string; ip?: string; console?: SerialShell };
const guests: Guest[] = [
  { key: "vm1", net: "a" },
  { key: "vm2", net: "a" },
  { key: "vm3", net: "b" },
];
const g = (key: Guest["key"]) => guests.find((x) => x.key === key)!;

test.describe.configure({ mode: "serial" });
test.setTimeout(300_000);

const EXT = { name: "e2e-ping-ext", cidr: "203.0.113.0/24", poolStart: "203.0.113.10", poolEnd: "203.0.113.99" };
const OUTSIDE_IP = "203.0.113.1";
type Named = { id: string; name: string };

async function deleteLeftovers() {
  // A crashed earlier run may have left its floating IPs, router and external network: they go first
  // (a router holds its network, an external network its router and floating IPs).
  const list = async (path: string) => {
    const res = await admin.get(path);
    return res.ok() ? ((await res.json()).items as (Named & { externalNetworkName?: string })[]) : [];
  };
  for (const f of await list("/api/v1/floating-ips"))
    if (f.externalNetworkName?.startsWith("e2e-ping-")) await admin.delete(`/api/v1/floating-ips/${f.id}`);
  for (const r of await list("/api/v1/routers"))
    if (r.name.startsWith("e2e-ping-")) await admin.delete(`/api/v1/routers/${r.id}`);
  for (const x of await list("/api/v1/external-networks"))
    if (x.name.startsWith("e2e-ping-")) await admin.delete(`/api/v1/external-networks/${x.id}`);
  // ...and its VMs / networks: remove them so names and VLANs are free.
  const vms = (await (await admin.get("/api/v1/vms?pageSize=200&q=e2e-ping-")).json()).items as {
    id: string;
    name: string;
  }[];
  for (const vm of vms.filter((v) => v.name.startsWith("e2e-ping-"))) await admin.delete(`/api/v1/vms/${vm.id}`);
  for (const vm of vms)
    await expect.poll(async () => (await admin.get(`/api/v1/vms/${vm.id}`)).status(), { timeout: 120_000 }).toBe(404);
  const nets = (await (await admin.get("/api/v1/networks?pageSize=200&q=e2e-ping-")).json()).items as {
    id: string;
    name: string;
  }[];
  for (const n of nets.filter((x) => x.name.startsWith("e2e-ping-"))) await admin.delete(`/api/v1/networks/${n.id}`);
}

test.beforeAll(async () => {
  fleet = await startMixedFleet();
  admin = await adminApi();
  await waitForFleetOnline(admin, fleet);
  await deleteLeftovers();
  // Only the fleet's hosts in play: the seeded hosts have no agent (a VM placed there could only fail).
  const seeded = (await (await admin.get("/api/v1/hosts?pageSize=200&q=seed-")).json()).items as SeededHost[];
  for (const h of seeded.filter((x) => x.name.startsWith("seed-") && x.adminState === "enabled")) {
    await admin.patch(`/api/v1/hosts/${h.id}`, { data: { adminState: "disabled" } });
    disabledSeeds.push(h.id);
  }
});

/** The security-group test's own guest and group (removed in afterAll, the group after its VM). */
const sg: { vmId?: string; groupId?: string; console?: SerialShell } = {};

/** The routing test's objects (removed in afterAll, floating IP -> router -> external network -> outside). */
const routing: { floatingIpId?: string; routerId?: string; externalNetworkId?: string; outside?: Outside } = {};

async function removeRouting() {
  if (admin && routing.floatingIpId) await admin.delete(`/api/v1/floating-ips/${routing.floatingIpId}`).catch(() => {});
  if (admin && routing.routerId) await admin.delete(`/api/v1/routers/${routing.routerId}`).catch(() => {});
  if (admin && routing.externalNetworkId)
    await admin.delete(`/api/v1/external-networks/${routing.externalNetworkId}`).catch(() => {});
  await routing.outside?.remove().catch((e: unknown) => console.log(`[ping] outside cleanup: ${String(e)}`));
}

test.afterAll(async () => {
  for (const x of guests) x.console?.close();
  sg.console?.close();
  await removeRouting();
  if (admin && sg.vmId) {
    await admin.delete(`/api/v1/vms/${sg.vmId}`).catch(() => {});
    await expect
      .poll(async () => (await admin.get(`/api/v1/vms/${sg.vmId}`)).status(), { timeout: 120_000 })
      .toBe(404)
      .catch(() => {});
  }
  if (admin && sg.groupId) await admin.delete(`/api/v1/security-groups/${sg.groupId}`).catch(() => {});
  if (admin) {
    for (const x of guests) if (x.id) await admin.delete(`/api/v1/vms/${x.id}`).catch(() => {});
    for (const x of guests) {
      if (x.id)
        await expect
          .poll(async () => (await admin.get(`/api/v1/vms/${x.id}`)).status(), { timeout: 120_000 })
          .toBe(404)
          .catch(() => {});
    }
    for (const id of Object.values(networkIds)) await admin.delete(`/api/v1/networks/${id}`).catch(() => {});
  }
  for (const id of disabledSeeds) await admin?.patch(`/api/v1/hosts/${id}`, { data: { adminState: "enabled" } });
  await fleet?.stop();
  await admin?.dispose();
});

test("two VMs on network A (VLAN 100) ping each other; a VM on network B (VLAN 200) stays unreachable", async () => {
  const t0 = Date.now();
  const ms = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
  for (const [key, spec] of Object.entries(NETS) as [keyof typeof NETS, (typeof NETS)[keyof typeof NETS]][]) {
    const res = await admin.post("/api/v1/networks", { data: spec });
    expect(res.status(), await res.text()).toBe(201);
    networkIds[key] = (await res.json()).id;
  }

  const image = (
    (await (await admin.get(`/api/v1/images?arch=${ARCH}&q=busybox-demo`)).json()).items as { id: string }[]
  )[0];
  expect(image, `no ${ARCH} busybox-demo image registered`).toBeTruthy();
  for (const x of guests) {
    const res = await admin.post("/api/v1/vms", {
      data: {
        name: `e2e-ping-${x.key}`,
        arch: ARCH,
        imageId: image!.id,
        vcpus: 1,
        memoryMb: 256,
        diskGb: 1,
        networkId: networkIds[x.net],
      },
    });
    expect(res.status(), await res.text()).toBe(202);
    x.id = (await res.json()).vm.id;
  }
  for (const x of guests) {
    // Wait for an end state, then say why if it is not "running" (the host, its agent URL, the error).
    let vm: { status: string; lastError: string | null; host: { id: string } | null } = {
      status: "",
      lastError: null,
      host: null,
    };
    await expect
      .poll(
        async () => {
          vm = await (await admin.get(`/api/v1/vms/${x.id}`)).json();
          return vm.status;
        },
        { timeout: 180_000, message: `${x.key} running or error` },
      )
      .toMatch(/^(running|error)$/);
    if (vm.status !== "running") {
      const host = vm.host ? await (await admin.get(`/api/v1/hosts/${vm.host.id}`)).json() : null;
      console.log(`[ping] ${x.key} failed on ${JSON.stringify(host)}; fleet agents ${JSON.stringify(fleet.agents)}`);
    }
    expect(vm.status, `${x.key}: ${vm.lastError}`).toBe("running");
  }
  console.log(`[ping] 3 VMs running after ${ms()}`);

  // Each guest prints the address the controller gave it (polyarch.ip= on its kernel command line).
  for (const x of guests) {
    x.console = await SerialShell.open(admin, x.id!);
    const m = await x.console.waitFor(/POLYARCH-NET eth0 addr=([\d.]+)\/(\d+)/, 0, 120_000, `${x.key}'s NIC address`);
    x.ip = m[1];
    expect(m[2]).toBe("24");
    await x.console.waitFor(/POLYARCH-BOOT-OK arch=aarch64/, 0, 120_000, `${x.key} booted`);
    await x.console.shellReady(x.key);
  }
  console.log(`[ping] addresses ${guests.map((x) => `${x.key}=${x.ip}`).join(" ")}; shells ready after ${ms()}`);
  expect(g("vm1").ip).toMatch(/^10\.77\.0\.\d+$/);
  expect(g("vm2").ip).toMatch(/^10\.77\.0\.\d+$/);
  expect(g("vm1").ip).not.toBe(g("vm2").ip);
  expect(g("vm3").ip).toMatch(/^10\.78\.0\.\d+$/);
  for (const x of guests) expect(x.ip).not.toMatch(/\.(0|1|255)$/); // not the network, gateway or broadcast

  // The controller counts the allocations too.
  const nets = (await (await admin.get("/api/v1/networks?pageSize=200")).json()).items as {
    id: string;
    usedAddresses: number;
  }[];
  expect(nets.find((n) => n.id === networkIds.a)?.usedAddresses).toBe(2);
  expect(nets.find((n) => n.id === networkIds.b)?.usedAddresses).toBe(1);

  // Same VLAN: replies.
  const vm1 = g("vm1").console!;
  const ab = await vm1.run(`ping -c 3 -W 5 ${g("vm2").ip}`, "P12");
  console.log(`[ping] vm1 -> vm2:\n${ab.out.trim()}`);
  expect(ab.out).toMatch(new RegExp(`bytes from ${g("vm2").ip!.replace(/\./g, "\\.")}`));
  expect(Number(/(\d+) packets received/.exec(ab.out)?.[1] ?? "0"), ab.out).toBeGreaterThanOrEqual(1);
  expect(ab.rc).toBe(0);
  const ba = await g("vm2").console!.run(`ping -c 2 -W 5 ${g("vm1").ip}`, "P21");
  expect(ba.rc, ba.out).toBe(0);

  // Other VLAN. Without a route the guest would only say "Network is unreachable"; with network
  // B's subnet declared on-link, vm1 really asks for vm3 on its segment (ARP on VLAN 100) — and
  // nobody answers, because vm3's port is tagged 200.
  expect((await vm1.run(`ip route add ${NETS.b.cidr} dev eth0`, "R1")).rc).toBe(0);
  const ac = await vm1.run(`ping -c 2 -W 1 ${g("vm3").ip}`, "P13", 60_000);
  console.log(`[ping] vm1 -> vm3:\n${ac.out.trim()}`);
  expect(ac.out).toMatch(/2 packets transmitted, 0 packets received, 100% packet loss/);
  expect(ac.rc).not.toBe(0);
  // vm3 is up with its address (so the loss is the VLAN, not a dead guest) and cannot reach vm1 either.
  const vm3 = g("vm3").console!;
  expect((await vm3.run("ip -o addr show dev eth0", "A3")).out).toContain(`inet ${g("vm3").ip}/24`);
  expect((await vm3.run(`ip route add ${NETS.a.cidr} dev eth0`, "R3")).rc).toBe(0);
  const ca = await vm3.run(`ping -c 2 -W 1 ${g("vm1").ip}`, "P31", 60_000);
  expect(ca.out).toMatch(/100% packet loss/);
  // ...while vm1 still reaches vm2 with the extra route in place.
  expect((await vm1.run(`ping -c 1 -W 5 ${g("vm2").ip}`, "P12b")).rc).toBe(0);
  console.log(`[ping] done after ${ms()}`);
});

test("security groups on real guests: created in a deny-in group, filtered from first boot; an ICMP rule added live lets pings in", async () => {
  const vm1 = g("vm1").console;
  // serial mode: this runs only after the test above passed, so its guests are there
  expect(vm1 && g("vm2").id, "the guests of the test above").toBeTruthy();
  const project = (await (await admin.get(`/api/v1/vms/${g("vm2").id}`)).json()).project as { id: string } | null;
  const group = await admin.post("/api/v1/security-groups", {
    data: { name: "e2e-ping-sg", ...(project ? { projectId: project.id } : {}) },
  });
  expect(group.status(), await group.text()).toBe(201);
  sg.groupId = (await group.json()).id as string;

  // Created in the group: the port is plugged with "deny in, allow out" before the guest runs.
  const image = (
    (await (await admin.get(`/api/v1/images?arch=${ARCH}&q=busybox-demo`)).json()).items as {
      id: string;
    }[]
  )[0]!;
  const res = await admin.post("/api/v1/vms", {
    data: {
      name: "e2e-ping-sg",
      arch: ARCH,
      imageId: image.id,
      vcpus: 1,
      memoryMb: 256,
      diskGb: 1,
      networkId: networkIds.a,
      ...(project ? { projectId: project.id } : {}),
      securityGroupIds: [sg.groupId],
    },
  });
  expect(res.status(), await res.text()).toBe(202);
  sg.vmId = (await res.json()).vm.id as string;
  await expect
    .poll(async () => (await (await admin.get(`/api/v1/vms/${sg.vmId}`)).json()).status, { timeout: 180_000 })
    .toBe("running");
  expect((await (await admin.get(`/api/v1/vms/${sg.vmId}/security-groups`)).json()).securityGroupIds).toEqual([
    sg.groupId,
  ]);
  sg.console = await SerialShell.open(admin, sg.vmId);
  const ip = (
    await sg.console.waitFor(/POLYARCH-NET eth0 addr=([\d.]+)\//, 0, 120_000, "the filtered VM's address")
  )[1]!;
  await sg.console.shellReady("sg");

  // In: nothing (vm1's pings are new ICMP flows with no rule). Out: its own pings and their replies.
  const blocked = await vm1!.run(`ping -c 2 -W 2 ${ip}`, "S1", 60_000);
  expect(blocked.out, blocked.out).toMatch(/100% packet loss/);
  const out = await sg.console.run(`ping -c 2 -W 5 ${g("vm1").ip}`, "S2");
  expect(out.rc, out.out).toBe(0);

  // A rule added live lets ICMP from network A in — no restart.
  const rule = await admin.post(`/api/v1/security-groups/${sg.groupId}/rules`, {
    data: { direction: "in", protocol: "icmp", remoteCidr: NETS.a.cidr },
  });
  expect(rule.status(), await rule.text()).toBe(201);
  const allowed = await vm1!.run(`ping -c 2 -W 5 ${ip}`, "S3", 60_000);
  expect(allowed.rc, allowed.out).toBe(0);
  // vm2, not in any group, is unaffected throughout.
  expect((await vm1!.run(`ping -c 1 -W 5 ${g("vm2").ip}`, "S4")).rc).toBe(0);

  // Removed again: new pings are refused once more.
  const ruleId = (await rule.json()).id as string;
  expect((await admin.delete(`/api/v1/security-groups/${sg.groupId}/rules/${ruleId}`)).status()).toBe(200);
  const again = await vm1!.run(`ping -c 2 -W 2 ${ip}`, "S5", 60_000);
  expect(again.out, again.out).toMatch(/100% packet loss/);
});

/** vm's first NIC id: from the API when the VM carries its NICs, else from the spec its agent got. */
async function firstNicId(vmId: string): Promise<string> {
  const vm = (await (await admin.get(`/api/v1/vms/${vmId}`)).json()) as {
    host: { id: string } | null;
    nics?: { id: string }[];
  };
  if (vm.nics?.[0]?.id) return vm.nics[0].id;
  const agent = fleet.agents.find((a) => a.hostId === vm.host?.id);
  expect(agent, `the fleet agent of host ${vm.host?.id}`).toBeTruthy();
  const spec = JSON.parse(readFileSync(join(agent!.stateDir, "vms", vmId, "spec.json"), "utf8")) as {
    nics?: { id: string }[];
  };
  expect(spec.nics?.[0]?.id, `a NIC in ${vmId}'s agent spec`).toBeTruthy();
  return spec.nics![0]!.id;
}

test("a router on real guests: a floating IP answers from an outside namespace, SNAT takes a VM out; both stop when unmapped / deleted", async () => {
  const vm1 = g("vm1").console;
  const vm2 = g("vm2").console;
  // serial mode: this runs only after the tests above passed, so their guests are there (vm1 and vm2
  // are in no security group: unfiltered)
  expect(vm1 && vm2 && g("vm1").id && g("vm2").id, "the guests of the first test").toBeTruthy();
  test.setTimeout(600_000); // pushes (and the periodic sync) to TCG guests' host: generous, nothing timed
  expect(fleet.externalBridge, "the fleet's external bridge (nft installed?)").toBeTruthy();
  const armHost = fleet.agents.find((a) => a.arch === ARCH)!;
  const armFacts = (await (await admin.get(`/api/v1/hosts/${armHost.hostId}`)).json()) as { name: string };

  // The outside: its own namespace on the fleet's external bridge, 203.0.113.1/24 only (no other route).
  const { createOutside } = (await import(
    resolve("scripts/fleet/outside.mjs")
  )) as typeof import("../scripts/fleet/outside.mjs");
  routing.outside = await createOutside(fleet, { address: `${OUTSIDE_IP}/24`, prefix: "pa-e2e-out" });
  const outside = routing.outside;

  const ext = await admin.post("/api/v1/external-networks", { data: { ...EXT, gateway: null } });
  expect(ext.status(), await ext.text()).toBe(201);
  routing.externalNetworkId = (await ext.json()).id as string;

  const router = await admin.post("/api/v1/routers", {
    data: { name: "e2e-ping-router", networkId: networkIds.a, externalNetworkId: routing.externalNetworkId },
  });
  expect(router.status(), await router.text()).toBe(201);
  routing.routerId = (await router.json()).id as string;

  const project = (await (await admin.get(`/api/v1/vms/${g("vm1").id}`)).json()).project as { id: string } | null;
  const nicId = await firstNicId(g("vm1").id!);
  const fipRes = await admin.post("/api/v1/floating-ips", {
    data: { externalNetworkId: routing.externalNetworkId, nicId, ...(project ? { projectId: project.id } : {}) },
  });
  expect(fipRes.status(), await fipRes.text()).toBe(201);
  const fip = (await fipRes.json()) as { id: string; address: string; nicId: string | null; fixedIp: string | null };
  routing.floatingIpId = fip.id;
  expect(fip.address).toMatch(/^203\.0\.113\.(1\d|[2-9]\d)$/); // from the pool .10–.99
  expect(fip).toMatchObject({ nicId, fixedIp: g("vm1").ip });
  console.log(`[ping] floating IP ${fip.address} -> vm1 ${g("vm1").ip}; outside ${outside.netns}`);

  // The guests have no default route (polyarch.ip=): only the outside's subnet goes to the gateway
  // (the router's address on network A). Nothing else leaves them.
  for (const [shell, tag] of [
    [vm1!, "X1"],
    [vm2!, "X2"],
  ] as const)
    expect((await shell.run(`ip route add ${EXT.cidr} via ${NETS.a.gateway}`, tag)).rc).toBe(0);

  // (c) the aarch64 host (all three guests run there) took the router: its port is active.
  type Port = { hostId: string; hostName: string; address: string; state: string; error: string | null };
  let ports: Port[] = [];
  await expect
    .poll(
      async () => {
        ports = (await (await admin.get(`/api/v1/routers/${routing.routerId}`)).json()).ports as Port[];
        return ports.find((p) => p.hostId === armHost.hostId)?.state;
      },
      { timeout: 120_000, intervals: [1_000, 2_000, 3_000], message: "the aarch64 host's router port active" },
    )
    .toBe("active");
  const armPort = ports.find((p) => p.hostId === armHost.hostId)!;
  expect(armPort.address).toMatch(/^203\.0\.113\.\d+$/);
  expect(armPort.address).not.toBe(fip.address);
  expect(
    ((await (await admin.get(`/api/v1/floating-ips/${fip.id}`)).json()) as { hostName: string | null }).hostName,
  ).toBe(armFacts.name);

  // (a) from inside the outside namespace, vm1 answers on its floating IP.
  await expect
    .poll(async () => (await outside.ping(fip.address, { count: 1, waitS: 3 })).received, {
      timeout: 120_000,
      intervals: [1_000, 2_000],
      message: `vm1 answers on ${fip.address} from ${outside.netns}`,
    })
    .toBeGreaterThan(0);
  const fipPing = await outside.ping(fip.address, { count: 3, waitS: 5 });
  console.log(`[ping] outside -> ${fip.address}:\n${fipPing.out.trim()}`);
  expect(fipPing.received, fipPing.out).toBeGreaterThanOrEqual(1);
  // The fixed address itself is not reachable from the outside (it has no route to it, and no NAT for it).
  const direct = await outside.exec(["ip", "route", "get", g("vm1").ip!]);
  expect(direct.code, direct.stdout + direct.stderr).not.toBe(0);

  // (b) vm2 (no floating IP) reaches 203.0.113.1, which has no route back to 10.77.0.0/24: only the
  // router's SNAT (source = the host's router address) makes the replies come back.
  let n = 0;
  await expect
    .poll(async () => (await vm2!.run(`ping -c 1 -W 3 ${OUTSIDE_IP}`, `O${++n}`, 30_000)).rc, {
      timeout: 120_000,
      intervals: [2_000],
      message: `vm2 pings ${OUTSIDE_IP} through SNAT`,
    })
    .toBe(0);
  const out = await vm2!.run(`ping -c 3 -W 5 ${OUTSIDE_IP}`, "OUT");
  console.log(`[ping] vm2 -> ${OUTSIDE_IP}:\n${out.out.trim()}`);
  expect(out.rc, out.out).toBe(0);

  // (d) unmapped: the floating IP stops answering (once the host has the new spec).
  const unmap = await admin.patch(`/api/v1/floating-ips/${fip.id}`, { data: { nicId: null } });
  expect(unmap.status(), await unmap.text()).toBe(200);
  expect((await unmap.json()).nicId).toBeNull();
  await expect
    .poll(async () => (await outside.ping(fip.address, { count: 1, waitS: 2 })).received, {
      timeout: 120_000,
      intervals: [1_000, 2_000],
      message: `${fip.address} no longer answers`,
    })
    .toBe(0);
  // ...while SNAT still takes vm2 out.
  expect((await vm2!.run(`ping -c 1 -W 5 ${OUTSIDE_IP}`, "OUT2")).rc).toBe(0);

  // Router deleted: the guest's outbound ping fails.
  const del = await admin.delete(`/api/v1/routers/${routing.routerId}`);
  expect(del.status(), await del.text()).toBe(200);
  routing.routerId = undefined;
  await expect
    .poll(async () => (await vm2!.run(`ping -c 1 -W 2 ${OUTSIDE_IP}`, `D${++n}`, 30_000)).rc, {
      timeout: 120_000,
      intervals: [2_000],
      message: `vm2's ping of ${OUTSIDE_IP} fails without the router`,
    })
    .not.toBe(0);
  // Guests unchanged otherwise: vm1 still reaches vm2 on network A.
  expect((await vm1!.run(`ping -c 1 -W 5 ${g("vm2").ip}`, "P12c")).rc).toBe(0);
});
