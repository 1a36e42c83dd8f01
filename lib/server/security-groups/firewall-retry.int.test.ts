// A security-group change that does not reach its host is not forgotten (ADR 052): the VM is marked
// firewallStale and retryStaleFirewalls pushes it again once the VM is settled on a host that answers
// heartbeats. The agent here is a loopback HTTP listener standing in for the agent API route
// (PUT|DELETE /v1/vms/:id/nics/:nicId/firewall); the agent's side is proven on real OVS in
// agent/src/network/firewall.int.test.ts.
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import type { TestDatabase } from "../../../prisma/test-db";
import { db } from "../platform";
import { insertTestHost, insertTestImage, insertTestNetwork } from "../testing/rows";
import { firewallForVm } from "../vms";
import { retryStaleFirewalls, syncVmFirewalls } from ".";

type Seen = { method: string; url: string; body: unknown };

/** Answers the firewall route with `status`; records each request. */
async function listen(status: () => number) {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      seen.push({ method: req.method ?? "", url: req.url ?? "", body: text ? JSON.parse(text) : null });
      const code = status();
      res.writeHead(code, { "content-type": "application/json" });
      res.end(JSON.stringify(code === 200 ? { ok: true } : { error: { code: "not_found", message: "not plugged" } }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { seen, url, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe.each(PROVIDERS)("stale firewalls on %s", (provider) => {
  let database: TestDatabase | undefined;
  const closers: (() => Promise<void>)[] = [];
  beforeEach(async () => {
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    database = await useFreshDatabase(provider);
  });
  afterEach(async () => {
    for (const c of closers.splice(0)) await c();
    await releaseDatabase(database);
  });
  afterAll(() => vi.restoreAllMocks());

  async function seed(status = "running") {
    // nothing listens on port 9: the host is unreachable
    const host = await insertTestHost({ agentUrl: "http://127.0.0.1:9", lastHeartbeatAt: new Date() });
    const image = await insertTestImage();
    const project = await db().project.create({ data: { name: "p" } });
    const net = await insertTestNetwork(31, project.id);
    const vm = await db().vm.create({
      data: {
        name: "web",
        arch: "x86_64",
        vcpus: 1,
        memoryMb: 128,
        diskGb: 1,
        status,
        imageId: image.id,
        hostId: host.id,
        projectId: project.id,
        nics: { create: [{ networkId: net.id, mac: "52:54:00:31:00:10", ip: "10.31.0.10" }] },
      },
      include: { nics: true },
    });
    const group = await db().securityGroup.create({
      data: { name: "web", projectId: project.id, rules: { create: [{ direction: "out", protocol: "any" }] } },
    });
    await db().vmSecurityGroup.create({ data: { vmId: vm.id, groupId: group.id } });
    return { host, vm };
  }
  const stale = async (id: string) => (await db().vm.findUniqueOrThrow({ where: { id } })).firewallStale;

  it("an unreachable host marks the VM stale; once the host answers, the retry pushes the firewall and clears it", async () => {
    const { host, vm } = await seed();
    const first = await syncVmFirewalls([vm.id]);
    expect([first.applied, first.failed.length]).toEqual([0, 1]);
    expect(await stale(vm.id)).toBe(true);
    // still unreachable: the retry fails too and the mark stays
    expect((await retryStaleFirewalls()).failed).toHaveLength(1);
    expect(await stale(vm.id)).toBe(true);

    const agent = await listen(() => 200);
    closers.push(agent.close);
    await db().host.update({ where: { id: host.id }, data: { agentUrl: agent.url } });
    // a host that stopped heartbeating is left alone
    expect(await retryStaleFirewalls({ nowMs: Date.now() + 3_600_000 })).toEqual({ applied: 0, failed: [] });
    expect(agent.seen).toEqual([]);
    const retried = await retryStaleFirewalls();
    expect([retried.applied, retried.failed]).toEqual([1, []]);
    expect(await stale(vm.id)).toBe(false);
    expect(agent.seen).toEqual([
      {
        method: "PUT",
        url: `/v1/vms/${vm.id}/nics/${vm.nics[0]!.id}/firewall`,
        body: await firewallForVm(vm.id),
      },
    ]);
    // nothing stale: the next run sends nothing
    expect(await retryStaleFirewalls()).toEqual({ applied: 0, failed: [] });
    expect(agent.seen).toHaveLength(1);
  });

  it("a VM moving (or still being created) stays stale until it is settled; a settled VM with no port plugged needs nothing", async () => {
    const { host, vm } = await seed("creating");
    const agent = await listen(() => 200);
    closers.push(agent.close);
    await db().host.update({ where: { id: host.id }, data: { agentUrl: agent.url } });
    // its host took the change, but the ports may be plugged from a spec computed before it
    expect((await syncVmFirewalls([vm.id])).applied).toBe(1);
    expect(await stale(vm.id)).toBe(true);
    expect((await retryStaleFirewalls()).applied).toBe(0);

    await db().vm.update({ where: { id: vm.id }, data: { status: "running", migratingToHostId: host.id } });
    expect((await retryStaleFirewalls()).applied).toBe(0);
    await db().vm.update({ where: { id: vm.id }, data: { migratingToHostId: null } });
    expect((await retryStaleFirewalls()).applied).toBe(1);
    expect(await stale(vm.id)).toBe(false);

    const unplugged = await listen(() => 404);
    closers.push(unplugged.close);
    await db().host.update({ where: { id: host.id }, data: { agentUrl: unplugged.url } });
    const res = await syncVmFirewalls([vm.id]);
    expect([res.applied, res.failed]).toEqual([0, []]);
    expect(await stale(vm.id)).toBe(false);
  });
});
