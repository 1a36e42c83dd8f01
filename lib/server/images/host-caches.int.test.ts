// Heartbeat image lists -> HostImage rows -> the image's hosts view, and eviction through a stub
// agent on 127.0.0.1, on real freshly migrated databases.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import type { TestDatabase } from "../../../prisma/test-db";
import type { HostFacts, HostImageReport } from "../../schemas/agent-api";
import { imageHostDtoSchema } from "../../schemas/host-images";
import { db } from "../platform";
import { getJoinToken, hostTokenFor, registerHost } from "../hosts";
import { recordHeartbeat } from "../vms";
import type { Actor } from "../platform";
import { evictImageFromHost, listImageHosts } from "./host-caches";

function facts(machineId: string, arch: "x86_64" | "aarch64"): HostFacts {
  return {
    hostname: `node-${arch}`,
    machineId,
    arch,
    cpuCount: 4,
    cpuModel: "test",
    memoryMb: 8192,
    diskGb: 100,
    kvm: false,
    qemu: { version: "7.2.0", binaries: {}, firmware: {} },
    ovs: { available: false, version: null, datapath: null },
    nativeArches: [arch],
    emulatedArches: [],
    maxVcpusNative: 4,
    maxVcpusEmulated: null,
    agentVersion: "0.1.0",
  };
}
const usage = { cpuPct: 1, memoryUsedMb: 1, diskUsedGb: 1, loadAvg: [] };
const actor: Actor = { id: "u-1", email: "op@example.test", name: "op", role: "operator", via: "session" };
const admin: Actor = { id: "u-0", email: "admin@example.test", name: "admin", role: "admin", via: "session" };
const img = (imageId: string, state: HostImageReport["state"], sizeBytes: number, inUse = false): HostImageReport => ({
  imageId,
  state,
  sizeBytes,
  inUse,
});

/** Agent stand-in: DELETE /v1/images/:id answers from `replies`; records calls and the token. */
class StubAgent {
  server!: http.Server;
  url = "";
  calls: Array<{ method: string; path: string; auth?: string }> = [];
  reply: { status: number; body: unknown } = { status: 200, body: {} };
  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      this.calls.push({ method: req.method ?? "", path: req.url ?? "", auth: req.headers.authorization });
      res.writeHead(this.reply.status, { "content-type": "application/json" }).end(JSON.stringify(this.reply.body));
    });
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

describe.each(PROVIDERS)("host images on %s", (provider) => {
  let database: TestDatabase | undefined;
  const agent = new StubAgent();
  beforeAll(() => agent.start());
  afterAll(() => agent.stop());
  beforeEach(async () => {
    database = await useFreshDatabase(provider);
    agent.calls = [];
  });
  afterEach(async () => {
    await releaseDatabase(database);
  });

  async function setup() {
    const joinToken = await getJoinToken();
    const a = await registerHost({ joinToken, agentUrl: agent.url, facts: facts("m-arm", "aarch64") }, null);
    const b = await registerHost({ joinToken, agentUrl: agent.url, facts: facts("m-x86", "x86_64") }, null);
    const i1 = await db().image.create({
      data: { name: "debian-arm", arch: "aarch64", format: "qcow2", status: "ready", visibility: "public" },
    });
    const i2 = await db().image.create({
      data: { name: "alpine-arm", arch: "aarch64", format: "qcow2", status: "ready", visibility: "public" },
    });
    return { a: a.hostId, b: b.hostId, i1: i1.id, i2: i2.id };
  }

  // syncHostImages trusts an existing HostImage row to mean "the image exists" (no image look-up
  // per heartbeat): that holds only because deleting the image deletes its rows.
  it("an image deleted on the controller loses its host rows; later heartbeats do not bring them back", async () => {
    const { a, i1, i2 } = await setup();
    await recordHeartbeat(a, { usage, vms: [], images: [img(i1, "ready", 10), img(i2, "ready", 20)] });
    expect(await db().hostImage.count({ where: { hostId: a } })).toBe(2);
    await db().image.delete({ where: { id: i1 } });
    expect(await db().hostImage.count({ where: { hostId: a, imageId: i1 } })).toBe(0);
    await recordHeartbeat(a, { usage, vms: [], images: [img(i1, "ready", 11), img(i2, "ready", 20)] });
    expect((await db().hostImage.findMany({ where: { hostId: a } })).map((r) => r.imageId)).toEqual([i2]);
  });

  it("a heartbeat with images creates, updates and removes HostImage rows; the hosts view returns them", async () => {
    const { a, b, i1, i2 } = await setup();
    await recordHeartbeat(a, {
      usage,
      vms: [],
      images: [img(i1, "downloading", 100), img(i2, "ready", 2000), img("deleted-on-controller", "ready", 5)],
    });
    await recordHeartbeat(b, { usage, vms: [], images: [img(i1, "ready", 3000)] });
    const rows = await db().hostImage.findMany({ where: { hostId: a }, orderBy: { imageId: "asc" } });
    // An image the controller does not know (deleted meanwhile) gets no row.
    expect(rows.map((r) => r.imageId).sort()).toEqual([i1, i2].sort());
    expect(rows.find((r) => r.imageId === i1)).toMatchObject({ state: "downloading", sizeBytes: 100n });

    // Unchanged reports do not rewrite rows (updatedAt = last change).
    const before = (await db().hostImage.findUniqueOrThrow({ where: { hostId_imageId: { hostId: a, imageId: i2 } } }))
      .updatedAt;
    await new Promise((r) => setTimeout(r, 20));
    await recordHeartbeat(a, { usage, vms: [], images: [img(i1, "ready", 4000), img(i2, "ready", 2000)] });
    expect(
      (await db().hostImage.findUniqueOrThrow({ where: { hostId_imageId: { hostId: a, imageId: i2 } } })).updatedAt,
    ).toEqual(before);
    expect(
      await db().hostImage.findUniqueOrThrow({ where: { hostId_imageId: { hostId: a, imageId: i1 } } }),
    ).toMatchObject({ state: "ready", sizeBytes: 4000n });

    // A VM placed on host a from i1 makes it in use there (the console's own placement).
    await db().vm.create({
      data: {
        name: "web-1",
        arch: "aarch64",
        vcpus: 1,
        memoryMb: 256,
        diskGb: 1,
        hostId: a,
        imageId: i1,
        status: "running",
      },
    });
    const view = await listImageHosts(i1, admin);
    expect(
      view.items.map(({ hostName, arch, state, sizeBytes, inUse }) => ({ hostName, arch, state, sizeBytes, inUse })),
    ).toEqual([
      { hostName: "node-aarch64", arch: "aarch64", state: "ready", sizeBytes: 4000, inUse: true },
      { hostName: "node-x86-64", arch: "x86_64", state: "ready", sizeBytes: 3000, inUse: false },
    ]);
    expect(view.items[0]!.usedBy).toEqual([{ id: expect.any(String), name: "web-1" }]);
    for (const item of view.items) expect(imageHostDtoSchema.safeParse(item).success).toBe(true);

    // The host no longer reports i2: its row goes. Other hosts are untouched.
    await recordHeartbeat(a, { usage, vms: [], images: [img(i1, "ready", 4000)] });
    expect(await db().hostImage.count({ where: { hostId: a } })).toBe(1);
    expect((await listImageHosts(i2, admin)).items).toEqual([]);
    expect(await db().hostImage.count({ where: { hostId: b } })).toBe(1);

    // An older agent (no `images`) leaves the rows alone; an empty list clears them.
    await recordHeartbeat(a, { usage, vms: [] });
    expect(await db().hostImage.count({ where: { hostId: a } })).toBe(1);
    await recordHeartbeat(a, { usage, vms: [], images: [] });
    expect(await db().hostImage.count({ where: { hostId: a } })).toBe(0);

    await expect(listImageHosts("no-such-image", admin)).rejects.toMatchObject({ code: "not_found" });
  });

  it("evicts through the agent, removes the row and audits; refuses while in use; absent counts as done", async () => {
    const { a, b, i1, i2 } = await setup();
    await recordHeartbeat(a, { usage, vms: [], images: [img(i1, "ready", 1000), img(i2, "ready", 2000)] });
    await recordHeartbeat(b, { usage, vms: [], images: [img(i1, "ready", 1000)] });
    const host = await db().host.findUniqueOrThrow({ where: { id: a } });

    agent.reply = { status: 200, body: { imageId: i2, evicted: true, freedBytes: 2000 } };
    expect(await evictImageFromHost(i2, a, { actor, clientIp: "127.0.0.1" })).toEqual({
      imageId: i2,
      hostId: a,
      evicted: true,
      freedBytes: 2000,
    });
    expect(agent.calls).toEqual([
      { method: "DELETE", path: `/v1/images/${i2}`, auth: `Bearer ${hostTokenFor(a, host.tokenGeneration)}` },
    ]);
    expect(await db().hostImage.count({ where: { hostId: a, imageId: i2 } })).toBe(0);
    const audit = await db().auditEvent.findFirstOrThrow({ where: { action: "image.evict" } });
    expect(audit).toMatchObject({ result: "success", targetId: i2, userEmail: actor.email });

    // In use according to the console: refused before the agent is asked, naming the VM.
    await db().vm.create({
      data: {
        name: "db-1",
        arch: "aarch64",
        vcpus: 1,
        memoryMb: 256,
        diskGb: 1,
        hostId: a,
        imageId: i1,
        status: "stopped",
      },
    });
    agent.calls = [];
    await expect(evictImageFromHost(i1, a, { actor, clientIp: null })).rejects.toMatchObject({
      code: "conflict",
      // db-1 is in the default project, which this operator is not in: counted, not named.
      message: expect.stringMatching(/in use on host node-aarch64 by 1 VM of other projects/),
    });
    expect(agent.calls).toEqual([]);

    // In use according to the agent (a VM the console does not know): the agent's 409 becomes a clear conflict.
    agent.reply = {
      status: 409,
      body: {
        error: { code: "conflict", message: `image ${i1} is in use by VM orphan (vm-x) on this host; delete it first` },
      },
    };
    const err = await evictImageFromHost(i1, b, { actor, clientIp: null }).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: "conflict",
      message: expect.stringMatching(
        /^Image debian-arm cannot be evicted from host node-x86-64: image .* in use by VM orphan \(vm-x\)/,
      ),
    });
    expect(await db().hostImage.count({ where: { hostId: b, imageId: i1 } })).toBe(1);
    expect(await db().auditEvent.count({ where: { action: "image.evict", result: "error" } })).toBe(2);

    // Not cached on the agent (stale record): the record goes, nothing was freed.
    agent.reply = { status: 404, body: { error: { code: "not_found", message: "not cached" } } };
    expect(await evictImageFromHost(i1, b, { actor, clientIp: null })).toMatchObject({ evicted: false, freedBytes: 0 });
    expect(await db().hostImage.count({ where: { hostId: b, imageId: i1 } })).toBe(0);

    await expect(evictImageFromHost(i1, "no-such-host", { actor, clientIp: null })).rejects.toMatchObject({
      code: "not_found",
    });
    await expect(evictImageFromHost("no-such-image", a, { actor, clientIp: null })).rejects.toMatchObject({
      code: "not_found",
    });
  });

  it("an unreachable agent is an 'unavailable' error and the record stays", async () => {
    const { a, i1 } = await setup();
    await recordHeartbeat(a, { usage, vms: [], images: [img(i1, "ready", 1000)] });
    await db().host.update({ where: { id: a }, data: { agentUrl: "http://127.0.0.1:9" } }); // discard port: nothing listens
    await expect(evictImageFromHost(i1, a, { actor, clientIp: null })).rejects.toMatchObject({ code: "unavailable" });
    expect(await db().hostImage.count({ where: { hostId: a, imageId: i1 } })).toBe(1);
  });
});
