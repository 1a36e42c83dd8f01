// External networks, routers and floating IPs on the controller (issue 18, ADR 059), on real SQLite and
// PostgreSQL: who may do what (wrong role, wrong project), pool allocation under concurrency, and what
// each host is told. The hosts' agents here are loopback listeners that check every router spec with the
// agent's own schema (lib/schemas/agent-router.ts) and keep what they were given, like the agent's
// router routes; the agent's side (namespaces, nftables, real traffic) is proven in
// agent/src/network/router.int.test.ts and end to end on real guests in e2e/network-ping.spec.ts.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { AppError } from "../../errors";
import { routerSpecSchema, type RouterSpec } from "../../schemas/agent-router";
import { createExternalNetworkSchema, createFloatingIpSchema, createRouterSchema } from "../../schemas/routers";
import { db, type Actor } from "../platform";
import { createProject, deleteProject } from "../projects";
import { createNetwork, deleteNetwork } from "../networks";
import { createNetworkSchema } from "../../schemas/networks";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import { insertTestHost, insertTestImage, insertTestNetwork, insertTestUser } from "../testing/rows";
import type { TestDatabase } from "../../../prisma/test-db";
import {
  createExternalNetwork,
  createFloatingIp,
  createRouter,
  deleteExternalNetwork,
  deleteFloatingIp,
  deleteRouter,
  getRouter,
  listFloatingIps,
  listRouters,
  sweepStrayRouters,
  syncRouters,
  updateFloatingIp,
  updateRouter,
} from ".";

const user = insertTestUser;
const as = (actor: Actor) => ({ actor, clientIp: "127.0.0.1" });

/** An agent's router routes: validates like the agent, keeps the routers by VLAN. */
async function fakeAgentRouters() {
  const routers = new Map<number, RouterSpec>();
  const calls: string[] = [];
  // What the list answers waits on this first (a test's way to act while a sweep is under way).
  const agent: {
    routers: typeof routers;
    calls: string[];
    url: string;
    close: () => Promise<void>;
    beforeList?: () => Promise<void>;
  } = { routers, calls, url: "", close: async () => undefined };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(body));
      };
      calls.push(`${req.method} ${req.url}`);
      if (req.method === "GET" && req.url === "/v1/routers")
        return void (agent.beforeList ?? (async () => undefined))().then(() =>
          send(200, { routers: [...routers].map(([vlan, spec]) => ({ vlan, netns: "x", uplink: "y", spec })) }),
        );
      const vlan = Number(/^\/v1\/routers\/(\d+)$/.exec(req.url ?? "")?.[1] ?? NaN);
      if (!Number.isInteger(vlan)) return send(404, { error: { code: "not_found", message: "no route" } });
      if (req.method === "DELETE") return send(200, { vlan, deleted: routers.delete(vlan) });
      const parsed = routerSpecSchema.safeParse(JSON.parse(Buffer.concat(chunks).toString("utf8")));
      if (!parsed.success) return send(400, { error: { code: "invalid", message: parsed.error.message } });
      routers.set(vlan, parsed.data);
      send(200, { vlan, spec: parsed.data });
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  agent.url = url;
  agent.close = () => new Promise<void>((r) => server.close(() => r()));
  return agent;
}

async function rejects(p: Promise<unknown>, code: string, text?: RegExp) {
  const error = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  expect((error as AppError).code).toBe(code);
  if (text) expect((error as AppError).message).toMatch(text);
}

describe.each(PROVIDERS)("routers and floating IPs on %s", (provider) => {
  let database: TestDatabase | undefined;
  let admin: Actor, opA: Actor, opB: Actor, viewerA: Actor;
  let projectA: string, projectB: string;
  let agents: Awaited<ReturnType<typeof fakeAgentRouters>>[];
  let hosts: Array<{ id: string }>;
  let netA: { id: string }, netB: { id: string };
  let vm1: { id: string; nicId: string; ip: string };
  let vmB: { id: string; nicId: string };

  beforeEach(async () => {
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    database = await useFreshDatabase(provider);
    admin = await user("admin@t.test", "admin", []);
    projectA = (await createProject({ name: "alpha", description: null }, as(admin))).id;
    projectB = (await createProject({ name: "beta", description: null }, as(admin))).id;
    opA = await user("opa@t.test", "operator", [projectA]);
    opB = await user("opb@t.test", "operator", [projectB]);
    viewerA = await user("viewera@t.test", "viewer", [projectA]);
    agents = [await fakeAgentRouters(), await fakeAgentRouters()];
    hosts = [
      await insertTestHost({ name: "h1", agentUrl: agents[0]!.url, lastHeartbeatAt: new Date() }),
      await insertTestHost({ name: "h2", agentUrl: agents[1]!.url, lastHeartbeatAt: new Date() }),
    ];
    const image = await insertTestImage();
    netA = await insertTestNetwork(31, projectA);
    netB = await insertTestNetwork(32, projectB);
    const vm = async (name: string, hostId: string, projectId: string, networkId: string, ip: string, mac: string) => {
      const row = await db().vm.create({
        data: {
          name,
          arch: "x86_64",
          vcpus: 1,
          memoryMb: 128,
          diskGb: 1,
          status: "running",
          imageId: image.id,
          hostId,
          projectId,
          nics: { create: [{ networkId, mac, ip }] },
        },
        include: { nics: true },
      });
      return { id: row.id, nicId: row.nics[0]!.id, ip };
    };
    vm1 = await vm("web-1", hosts[0]!.id, projectA, netA.id, "10.31.0.10", "52:54:00:31:00:10");
    await vm("web-2", hosts[1]!.id, projectA, netA.id, "10.31.0.11", "52:54:00:31:00:11");
    vmB = await vm("other", hosts[0]!.id, projectB, netB.id, "10.32.0.10", "52:54:00:32:00:10");
  });
  afterEach(async () => {
    for (const a of agents) await a.close();
    await releaseDatabase(database);
    vi.restoreAllMocks();
  });

  const external = (actor: Actor, extra: Record<string, unknown> = {}) =>
    createExternalNetwork(
      createExternalNetworkSchema.parse({
        name: "provider",
        cidr: "203.0.113.0/24",
        poolStart: "203.0.113.10",
        poolEnd: "203.0.113.20",
        ...extra,
      }),
      as(actor),
    );
  const router = (actor: Actor, networkId: string, externalNetworkId: string, snat = true) =>
    createRouter(createRouterSchema.parse({ name: "edge", networkId, externalNetworkId, snat }), as(actor));
  const floating = (actor: Actor, externalNetworkId: string, extra: Record<string, unknown> = {}) =>
    createFloatingIp(createFloatingIpSchema.parse({ externalNetworkId, ...extra }), as(actor));

  it("only admins define external networks; one that overlaps a VM network or is in use is refused", async () => {
    await rejects(external(opA), "forbidden", /may not change external networks/);
    await rejects(
      external(admin, { cidr: "10.31.0.0/16", poolStart: null, poolEnd: null }),
      "conflict",
      /overlaps network/,
    );
    const ext = await external(admin);
    expect(ext).toMatchObject({ cidr: "203.0.113.0/24", gateway: null, poolSize: 11, usedAddresses: 0 });
    await rejects(external(admin), "conflict", /already exists/);
    await router(opA, netA.id, ext.id);
    await rejects(deleteExternalNetwork(as(admin), ext.id), "conflict", /1 router/);
    await rejects(deleteExternalNetwork(as(opA), ext.id), "forbidden");
  });

  it("a router runs on every host with VMs on its network, each with its own external address; wrong project 404, viewer 403", async () => {
    const ext = await external(admin, { gateway: "203.0.113.1" });
    await rejects(router(opB, netA.id, ext.id), "not_found");
    await rejects(router(viewerA, netA.id, ext.id), "forbidden");
    await rejects(router(opA, netA.id, "missing"), "not_found", /External network missing/);
    const r = await router(opA, netA.id, ext.id);
    expect(r.ports.map((p) => [p.hostName, p.state])).toEqual(
      expect.arrayContaining([
        ["h1", "active"],
        ["h2", "active"],
      ]),
    );
    const [s1, s2] = agents.map((a) => a.routers.get(31));
    expect(s1).toMatchObject({ gateway: "10.31.0.1/24", snat: true, floatingIps: [] });
    expect(s1!.external.gateway).toBe("203.0.113.1");
    expect(s1!.external.address).not.toBe(s2!.external.address);
    expect([s1!.external.address, s2!.external.address].every((a) => /^203\.0\.113\.1\d\/24$/.test(a))).toBe(true);
    // project B's network is on h1 too, but has no router
    expect(agents[0]!.routers.has(32)).toBe(false);
    await rejects(router(opA, netA.id, ext.id), "conflict", /already has a router/);
    expect((await listRouters(opB)).map((x) => x.id)).toEqual([]);
    expect((await listRouters(viewerA)).map((x) => x.id)).toEqual([r.id]);
    await rejects(getRouter(as(opB), r.id), "not_found");
    await rejects(updateRouter(as(viewerA), r.id, { snat: false }), "forbidden");

    // SNAT off goes to both hosts; an unchanged spec is not pushed again
    const before = agents.map((a) => a.calls.length);
    await updateRouter(as(opA), r.id, { snat: false });
    expect(agents.map((a) => a.routers.get(31)!.snat)).toEqual([false, false]);
    expect((await syncRouters()).applied).toBe(0);
    expect(agents.map((a) => a.calls.length)).toEqual(before.map((n) => n + 1));
  });

  it("a floating IP maps to a NIC of its project's VM on a routed network, answers on the VM's host, and follows the VM", async () => {
    const ext = await external(admin);
    await rejects(floating(viewerA, ext.id, { projectId: projectA }), "forbidden");
    await rejects(floating(opB, ext.id, { projectId: projectA }), "not_found", /Project/);
    // no router yet: mapping names what to create
    await rejects(floating(opA, ext.id, { nicId: vm1.nicId }), "conflict", /has no router/);
    expect(await listFloatingIps(opA)).toEqual([]); // nothing half-made
    const r = await router(opA, netA.id, ext.id);
    const fip = await floating(opA, ext.id, { nicId: vm1.nicId });
    expect(fip).toMatchObject({ projectId: projectA, vmId: vm1.id, fixedIp: vm1.ip, hostName: "h1" });
    const routerAddresses = (await getRouter(as(opA), r.id)).ports.map((p) => p.address);
    expect(routerAddresses).not.toContain(fip.address);
    expect(agents[0]!.routers.get(31)!.floatingIps).toEqual([{ floating: fip.address, fixed: vm1.ip }]);
    expect(agents[1]!.routers.get(31)!.floatingIps).toEqual([]);

    // another project's operator cannot see it; an admin cannot map it to another project's VM
    expect(await listFloatingIps(opB)).toEqual([]);
    await rejects(updateFloatingIp(as(opB), fip.id, { nicId: null }), "not_found");
    await rejects(updateFloatingIp(as(admin), fip.id, { nicId: vmB.nicId }), "forbidden", /another project/);
    await rejects(updateFloatingIp(as(opA), fip.id, { nicId: vmB.nicId }), "not_found"); // B's VM is invisible to A
    // one floating IP per NIC
    await rejects(floating(opA, ext.id, { nicId: vm1.nicId }), "conflict", /already has a floating IP/);

    // the VM moves to h2: the next sync moves the address with it
    await db().vm.update({ where: { id: vm1.id }, data: { hostId: hosts[1]!.id } });
    const moved = await syncRouters();
    expect(moved.failed).toEqual([]);
    expect(agents[1]!.routers.get(31)!.floatingIps).toEqual([{ floating: fip.address, fixed: vm1.ip }]);
    // h1 has no VM of network A left: its router is removed and its address freed
    expect(agents[0]!.routers.has(31)).toBe(false);
    expect((await getRouter(as(opA), r.id)).ports.map((p) => p.hostName)).toEqual(["h2"]);

    // the router cannot go while the address is mapped through it; unmapped, it can
    await rejects(deleteRouter(as(opA), r.id), "conflict", /unmap them first/);
    await updateFloatingIp(as(opA), fip.id, { nicId: null });
    expect(agents[1]!.routers.get(31)!.floatingIps).toEqual([]);
    await deleteRouter(as(opA), r.id);
    expect(agents.map((a) => a.routers.size)).toEqual([0, 0]);
    await deleteFloatingIp(as(opA), fip.id);
    await deleteExternalNetwork(as(admin), ext.id);
  });

  it("an offline host or one without an external network is shown on the router's port, and gets it when it can", async () => {
    const ext = await external(admin);
    await db().host.update({ where: { id: hosts[1]!.id }, data: { status: "offline" } });
    await db().host.update({
      where: { id: hosts[0]!.id },
      data: { facts: JSON.stringify({ network: { dhcp: true, externalNetwork: false } }) },
    });
    const r = await router(opA, netA.id, ext.id);
    const ports = Object.fromEntries(r.ports.map((p) => [p.hostName, p]));
    expect(ports.h1).toMatchObject({ state: "error", error: expect.stringMatching(/no external network/) });
    expect(ports.h2).toMatchObject({ state: "error", error: expect.stringMatching(/offline/) });
    expect(agents.map((a) => a.calls)).toEqual([[], []]);

    await db().host.update({ where: { id: hosts[1]!.id }, data: { status: "online" } });
    await db().host.update({ where: { id: hosts[0]!.id }, data: { facts: null } });
    expect((await syncRouters()).applied).toBe(2);
    expect((await getRouter(as(opA), r.id)).ports.every((p) => p.state === "active")).toBe(true);
  });

  it("what a router or floating IP stands on cannot go from under it: network, project, overlapping addresses", async () => {
    const ext = await external(admin);
    const r = await router(opA, netA.id, ext.id);
    await db().nic.deleteMany({ where: { networkId: netA.id } });
    await rejects(deleteNetwork(netA.id, as(opA)), "conflict", /has router edge; delete the router first/);
    await rejects(
      createNetwork(
        createNetworkSchema.parse({ name: "clash", vlanId: 40, cidr: "203.0.113.0/25", gateway: "203.0.113.1" }),
        as(admin),
      ),
      "conflict",
      /overlaps external network provider/,
    );
    await floating(admin, ext.id, { projectId: projectB });
    await db().vm.deleteMany({ where: { projectId: projectB } });
    await db().network.deleteMany({ where: { projectId: projectB } });
    await rejects(deleteProject(projectB, as(admin)), "conflict", /1 floating IP;/);
    await deleteRouter(as(opA), r.id);
    await deleteNetwork(netA.id, as(opA));
  });

  it("the sweep removes routers a host has that the controller does not know: marked hosts every run, every host in a full sweep", async () => {
    const ext = await external(admin);
    const r = await router(opA, netA.id, ext.id);
    const listed = () => agents.map((a) => a.calls.filter((c) => c === "GET /v1/routers").length);
    // A router no removal was missed for (a database restored from a backup): only a full sweep finds it.
    agents[0]!.routers.set(77, agents[0]!.routers.get(31)!);
    expect(await sweepStrayRouters()).toEqual({ removed: 0, failed: 0 });
    expect(listed()).toEqual([0, 0]);
    expect(await sweepStrayRouters({ all: true })).toEqual({ removed: 1, failed: 0 });
    expect([...agents[0]!.routers.keys()]).toEqual([31]);
    expect(listed()).toEqual([1, 1]);

    // Deleted while h2 is away: h2 is marked, and the next sweep after it is back asks h2 alone.
    await db().host.update({ where: { id: hosts[1]!.id }, data: { status: "offline" } });
    await deleteRouter(as(opA), r.id);
    expect([...agents.map((a) => [...a.routers.keys()])]).toEqual([[], [31]]);
    const marks = async () =>
      (await db().host.findMany({ orderBy: { name: "asc" }, select: { strayRoutersSince: true } })).map(
        (h) => h.strayRoutersSince !== null,
      );
    expect(await marks()).toEqual([false, true]);
    expect(await sweepStrayRouters()).toEqual({ removed: 0, failed: 0 }); // still offline: kept marked
    expect(await marks()).toEqual([false, true]);
    await db().host.update({ where: { id: hosts[1]!.id }, data: { status: "online" } });
    expect(await sweepStrayRouters()).toEqual({ removed: 1, failed: 0 });
    expect([...agents.map((a) => [...a.routers.keys()])]).toEqual([[], []]);
    expect(listed()).toEqual([1, 2]);
    expect(await marks()).toEqual([false, false]);
  });

  it("a host that fails the sweep stays marked; a removal that marked it again meanwhile is not cleared", async () => {
    const ext = await external(admin);
    const r = await router(opA, netA.id, ext.id);
    await agents[1]!.close(); // h2's agent is gone: the removal fails there
    await deleteRouter(as(opA), r.id);
    const markOf = async () => (await db().host.findUniqueOrThrow({ where: { id: hosts[1]!.id } })).strayRoutersSince;
    const first = await markOf();
    expect(first).not.toBeNull();
    expect(await sweepStrayRouters()).toEqual({ removed: 0, failed: 1 });
    expect(await markOf()).toEqual(first);
    agents[1] = await fakeAgentRouters();
    await db().host.update({ where: { id: hosts[1]!.id }, data: { agentUrl: agents[1].url } });
    // The sweep has read the mark; while it asks the host, another removal fails there and marks it again.
    const newer = new Date(first!.getTime() + 1000);
    agents[1].beforeList = async () => {
      await db().host.update({ where: { id: hosts[1]!.id }, data: { strayRoutersSince: newer } });
    };
    expect(await sweepStrayRouters()).toEqual({ removed: 0, failed: 0 });
    expect(await markOf()).toEqual(newer);
    agents[1].beforeList = undefined;
    expect(await sweepStrayRouters()).toEqual({ removed: 0, failed: 0 });
    expect(await markOf()).toBeNull();
  });

  it("concurrent allocations take distinct addresses and stop cleanly when the pool is full", async () => {
    const ext = await external(admin);
    await router(opA, netA.id, ext.id); // two router addresses (h1, h2)
    const results = await Promise.allSettled(Array.from({ length: 12 }, () => floating(opA, ext.id)));
    const ok = results.filter((x) => x.status === "fulfilled").map((x) => x.value.address);
    expect(ok).toHaveLength(9); // 11 in the pool − 2 router ports
    expect(new Set(ok).size).toBe(9);
    const refused = results.filter((x) => x.status === "rejected").map((x) => (x.reason as AppError).message);
    expect(refused).toEqual([
      expect.stringMatching(/no free address/),
      expect.stringMatching(/no free address/),
      expect.stringMatching(/no free address/),
    ]);
  });
});
