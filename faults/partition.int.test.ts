// Agent ↔ controller partition (issue 15): the controller in one network namespace, the agent's host
// (agent, OVS, QEMUs) in another, one veth between them (faults/netns.ts); a second host runs next to
// the controller. Link down on the controller's end, then up. While partitioned the host turns
// offline and its VMs "unknown", its plain VM keeps running, new VMs go to the other host, and its
// HA VM is fenced by the watchdog and restarted on the other host (ADR 036); after link up the host
// is online, the plain VM running again with the same QEMU, the stale HA copy evicted — never two.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFleet, type Fleet } from "../scripts/fleet/fleet.mjs";
import { db } from "../lib/server/platform";
import {
  JOIN_TOKEN,
  fleetQemus,
  kernelTaps,
  missingBuild,
  tapOf,
  startRig,
  waitForInvariants,
  type Rig,
} from "../lib/server/testing/fault-rig";
import {
  createNetnsPair,
  linksOf,
  macOf,
  netnsNames,
  pinNeighbour,
  removeNetnsPair,
  routesOf,
  setLink,
  startConsoleBridge,
  type ConsoleBridge,
} from "./netns";

const HEARTBEAT_TIMEOUT_MS = 8_000;
const LEASE_MS = 10_000;
const pair = netnsNames();

let rig: Rig | undefined;
let peer: Fleet | undefined;
let bridge: ConsoleBridge | undefined;
let scratch: string | undefined;
let sampler: NodeJS.Timeout | undefined;
/** the most QEMU processes seen at once per VM id, sampled every 250 ms across both hosts */
const mostCopies = new Map<string, number>();
let tapsBefore = new Set<string>();
const vmIds: { plain?: string; ha?: string; plainPid?: number } = {};
let networkId: string | undefined;

/** Both fleets as one, for the invariant check: the partitioned host's and the peer's. */
const bothFleets = (): Fleet => ({ ...rig!.fleet, agents: [...rig!.fleet.agents, ...peer!.agents] });
const partitioned = () => rig!.fleet.agents[0]!;
const vmRow = (id: string) => db().vm.findUniqueOrThrow({ where: { id } });
const hostStatus = async (id: string | null) => (await db().host.findUniqueOrThrow({ where: { id: id! } })).status;
const since = (t0: number) => `${((Date.now() - t0) / 1000).toFixed(1)} s`;

/** VM taps (agent/src/network/ovs.ts tapName) inside a namespace. */
const tapsIn = async (ns: string) => (await linksOf(ns)).filter((n) => /^pa[0-9a-f]{12}$/.test(n)).sort();
/** The taps the VMs placed on a host should have. */
async function tapsOfHost(hostId: string | null): Promise<string[]> {
  const vms = await db().vm.findMany({ where: { hostId: hostId! }, include: { nics: true } });
  return vms.flatMap((v) => v.nics.map((n) => tapOf(v.id, n.id))).sort();
}

async function createVm(name: string, ha = false): Promise<string> {
  const { api } = rig!;
  const imageId = await api.demoImage("x86_64");
  const body = { name, arch: "x86_64", imageId, vcpus: 1, memoryMb: 128, diskGb: 1, ha, networkId };
  const created = await api.expect<{ vm: { id: string } }>(202, "POST", "/api/v1/vms", body);
  await expect
    .poll(async () => (await vmRow(created.vm.id)).status, { timeout: 120_000, interval: 500 })
    .toBe("running");
  return created.vm.id;
}

describe.skipIf(missingBuild() !== null)("agent ↔ controller partition (network namespaces)", () => {
  beforeAll(async () => {
    tapsBefore = new Set(kernelTaps());
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), "pa-part-"));
    await createNetnsPair(pair);
    bridge = await startConsoleBridge(pair.ctrl.ns, scratch);
    rig = await startRig({
      netns: { name: pair.ctrl.ns, agentHost: pair.ctrl.ip, consolePort: bridge.port },
      fleetNetns: { name: pair.agents.ns, listenHost: pair.agents.ip },
      fleet: { x86_64: 1 },
      env: { POLYARCH_HEARTBEAT_TIMEOUT_MS: String(HEARTBEAT_TIMEOUT_MS), POLYARCH_HA_LEASE_MS: String(LEASE_MS) },
    });
  }, 240_000);

  afterAll(async () => {
    clearInterval(sampler);
    await peer?.stop().catch((e: unknown) => console.error("peer fleet stop:", e));
    await rig?.stop().catch((e: unknown) => console.error("rig stop:", e));
    await bridge?.close().catch((e: unknown) => console.error("bridge close:", e));
    await removeNetnsPair(pair);
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  }, 120_000);

  it("the namespaces have no way out, and the host behind the link serves VMs", async () => {
    for (const ns of [pair.ctrl.ns, pair.agents.ns])
      expect(
        (await routesOf(ns)).filter((r) => /^default|via /.test(r)),
        `routes of ${ns}`,
      ).toEqual([]);
    expect(partitioned().url).toContain(`https://${pair.agents.ip}:`);
    // A NIC each: taps and OVS ports live in the hosts' namespaces and must follow the VMs.
    const net = { name: "part-net", vlanId: 117, cidr: "192.168.117.0/24", gateway: "192.168.117.1" };
    networkId = (await rig!.api.expect<{ id: string }>(201, "POST", "/api/v1/networks", net)).id;
    vmIds.plain = await createVm("part-plain");
    vmIds.ha = await createVm("part-ha", true);
    for (const id of [vmIds.plain, vmIds.ha]) expect((await vmRow(id)).hostId).toBe(partitioned().hostId);

    // The second host, next to the controller (loopback inside its namespace): where HA VMs and new VMs go.
    peer = await startFleet({
      controllerUrl: `https://127.0.0.1:${rig!.controller.agentTlsPort}`,
      controllerCa: rig!.controller.caFile,
      joinToken: JOIN_TOKEN,
      dataDir: path.join(scratch!, "peer"),
      fleet: { x86_64: 1 },
      machineIdPrefix: "peer",
      heartbeatMs: 2_000,
      strict: true,
      handleSignals: false,
      log: () => undefined,
      netns: pair.ctrl.ns,
      listenHost: "127.0.0.1",
    });
    await expect.poll(() => hostStatus(peer!.agents[0]!.hostId), { timeout: 60_000, interval: 250 }).toBe("online");
    sampler = setInterval(() => {
      const seen = new Map<string, number>();
      for (const q of fleetQemus(bothFleets())) seen.set(q.vmId, (seen.get(q.vmId) ?? 0) + 1);
      for (const [id, n] of seen) mostCopies.set(id, Math.max(n, mostCopies.get(id) ?? 0));
    }, 250);
    const [plainQemu, ...more] = fleetQemus(bothFleets()).filter((q) => q.vmId === vmIds.plain);
    expect(more).toEqual([]);
    vmIds.plainPid = plainQemu!.pid;
  });

  it("link down: the host turns offline, its VMs unknown, its plain VM keeps running, HA restarts elsewhere", async () => {
    const { api } = rig!;
    const hostId = partitioned().hostId;
    const t0 = Date.now();
    await setLink(pair.ctrl.ns, pair.ctrl.veth, "down");

    await expect.poll(() => hostStatus(hostId), { timeout: 60_000, interval: 250 }).toBe("offline");
    console.log(`[faults] partition: host offline after ${since(t0)} (timeout ${HEARTBEAT_TIMEOUT_MS} ms)`);
    const plain = await api.expect<{ status: string; powerState: string }>(200, "GET", `/api/v1/vms/${vmIds.plain}`);
    expect(plain).toMatchObject({ status: "unknown", powerState: "unknown" });
    expect(await api.expect<{ status: string }>(200, "GET", `/api/v1/hosts/${hostId}`)).toMatchObject({
      status: "offline",
    });

    // Operating the unreachable VM fails with a message, within the request deadline, and kills nothing.
    const stop = await api.call<{ error?: { message?: string } }>("POST", `/api/v1/vms/${vmIds.plain}/actions`, {
      action: "stop",
    });
    console.log(
      `[faults] partition: stop on the cut-off VM → ${stop.status} in ${stop.ms.toFixed(0)} ms: ${stop.body?.error?.message}`,
    );
    expect(stop.status).toBeGreaterThanOrEqual(400);
    expect(stop.body?.error?.message ?? "").not.toBe("");

    // A new VM goes to the host the controller can reach.
    const fresh = await createVm("part-new");
    expect((await vmRow(fresh)).hostId).toBe(peer!.agents[0]!.hostId);

    // The HA VM: fenced on the cut-off host by its watchdog, restarted on the peer at a newer generation.
    await expect
      .poll(
        async () => {
          const v = await vmRow(vmIds.ha!);
          return `${v.hostId === peer!.agents[0]!.hostId ? "peer" : "cut-off"}/${v.status}`;
        },
        { timeout: 90_000, interval: 500 },
      )
      .toBe("peer/running");
    console.log(`[faults] partition: HA VM running on the other host after ${since(t0)} (lease ${LEASE_MS} ms)`);
    expect((await vmRow(vmIds.ha!)).generation).toBe(2);
    const restart = await db().task.findFirst({ where: { vmId: vmIds.ha!, kind: "vm.ha-restart" } });
    expect(restart?.status, "the vm.ha-restart task the user sees").toBe("succeeded");
    expect(fs.existsSync(path.join(partitioned().stateDir, "fence", "fenced.json")), "fenced.json").toBe(true);
    expect(
      fleetQemus(bothFleets())
        .filter((q) => q.vmId === vmIds.ha)
        .map((q) => q.agent.machineId),
    ).toEqual([peer!.agents[0]!.machineId]);

    // The partition killed nothing else: the plain VM's QEMU is the one from before.
    expect(
      fleetQemus(bothFleets())
        .filter((q) => q.vmId === vmIds.plain)
        .map((q) => q.pid),
    ).toEqual([vmIds.plainPid]);
    expect((await vmRow(vmIds.plain!)).status).toBe("unknown");
  });

  it("link up: the host is online again, its VM running with the same QEMU, the stale HA copy evicted", async () => {
    const hostId = partitioned().hostId;
    const t0 = Date.now();
    await setLink(pair.ctrl.ns, pair.ctrl.veth, "up");
    await expect.poll(() => hostStatus(hostId), { timeout: 60_000, interval: 250 }).toBe("online");
    console.log(`[faults] partition healed: host online after ${since(t0)}`);
    await expect
      .poll(async () => (await vmRow(vmIds.plain!)).status, { timeout: 60_000, interval: 250 })
      .toBe("running");
    console.log(`[faults] partition healed: plain VM running after ${since(t0)}`);
    expect(
      fleetQemus(bothFleets())
        .filter((q) => q.vmId === vmIds.plain)
        .map((q) => q.pid),
    ).toEqual([vmIds.plainPid]);

    // The fenced copy's directory is quarantined (evicted/), not left among the host's VMs.
    await expect
      .poll(() => fs.existsSync(path.join(partitioned().stateDir, "vms", vmIds.ha!)), {
        timeout: 60_000,
        interval: 500,
      })
      .toBe(false);
    const evicted = fs.readdirSync(path.join(partitioned().stateDir, "evicted"));
    expect(evicted.some((d) => d.startsWith(`${vmIds.ha}-g1-`))).toBe(true);

    await waitForInvariants(bothFleets(), { tapsBefore });
    // kernelTaps() sees the root namespace only: the hosts' taps are checked where they live.
    expect(await tapsIn(pair.agents.ns), "taps on the partitioned host").toEqual(await tapsOfHost(hostId));
    expect(await tapsIn(pair.ctrl.ns), "taps on the peer").toEqual(await tapsOfHost(peer!.agents[0]!.hostId));
    expect(await tapsOfHost(hostId)).toHaveLength(1);
    expect(mostCopies.get(vmIds.ha!), "most QEMU copies of the HA VM seen at once").toBe(1);
    expect(mostCopies.get(vmIds.plain!)).toBe(1);
  });

  it("a silent partition (the agent's end down): the user's action on the cut-off VM gives up, it does not hang", async () => {
    const { api } = rig!;
    const hostId = partitioned().hostId;
    // The controller keeps its next hop: its packets to the host now vanish, nothing answers "unreachable".
    await pinNeighbour(pair.ctrl.ns, pair.ctrl.veth, pair.agents.ip, await macOf(pair.agents.ns, pair.agents.veth));
    const t0 = Date.now();
    await setLink(pair.agents.ns, pair.agents.veth, "down");
    await expect.poll(() => hostStatus(hostId), { timeout: 60_000, interval: 250 }).toBe("offline");
    console.log(`[faults] silent partition: host offline after ${since(t0)}`);

    // Api.call's deadline is 30 s: status 0 = the controller still waits for the agent (its own timeout is 120 s).
    const stop = await api.call<{ error?: { message?: string } }>("POST", `/api/v1/vms/${vmIds.plain}/actions`, {
      action: "stop",
    });
    console.log(
      `[faults] silent partition: stop → ${stop.status} in ${stop.ms.toFixed(0)} ms: ${stop.body?.error?.message ?? stop.error}`,
    );
    expect(stop.status, "an answer, not a request left hanging").not.toBe(0);
    expect(stop.status).toBeGreaterThanOrEqual(400);
    expect(stop.body?.error?.message ?? "").not.toBe("");

    await setLink(pair.agents.ns, pair.agents.veth, "up");
    await expect.poll(() => hostStatus(hostId), { timeout: 60_000, interval: 250 }).toBe("online");
    console.log(`[faults] silent partition healed: host online after ${since(t0)}`);
    // The given-up stop must not land late: the VM runs on in the same QEMU.
    await expect
      .poll(async () => (await vmRow(vmIds.plain!)).status, { timeout: 60_000, interval: 250 })
      .toBe("running");
    expect(
      fleetQemus(bothFleets())
        .filter((q) => q.vmId === vmIds.plain)
        .map((q) => q.pid),
    ).toEqual([vmIds.plainPid]);
    await waitForInvariants(bothFleets(), { tapsBefore });
    expect(mostCopies.get(vmIds.ha!)).toBe(1);
  });
});
