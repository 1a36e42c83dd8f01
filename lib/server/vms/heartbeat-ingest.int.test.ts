// The heartbeat as the agent TLS listener's fast path answers it (the `agentHeartbeat` app hook,
// ADR 043): the same refusals as the route handler (401/403/400/413/409, 503 without a database),
// and what an acknowledged heartbeat must have written (host online, VM status, metrics) before it
// is answered — also when many arrive together and share one batch write.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { TestDatabase } from "../../../prisma/test-db";
import type { AgentHeartbeatCall } from "../../server-hooks";
import { heartbeatResponseSchema, type HostFacts, type VmStatus } from "../../schemas/agent-api";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import { db, resetDbForTests, resetEnvForTests } from "../platform";
import { getJoinToken, registerHost, sha256 } from "../hosts";
import { agentHeartbeatHook, MAX_HEARTBEAT_BYTES } from "./heartbeat-ingest";
import { heartbeatRows } from "./heartbeat-rows";

const facts: HostFacts = {
  hostname: "node-hb",
  machineId: "machine-hb",
  arch: "x86_64",
  cpuCount: 4,
  cpuModel: "Test CPU",
  memoryMb: 8192,
  diskGb: 100,
  kvm: true,
  qemu: { version: "8.2.0", binaries: { x86_64: "/usr/bin/qemu-system-x86_64" }, firmware: {} },
  ovs: { available: true, version: "3.1.0", datapath: "netdev" },
  nativeArches: ["x86_64"],
  emulatedArches: [],
  maxVcpusNative: 4,
  maxVcpusEmulated: null,
  agentVersion: "0.1.0",
};
const usage = { cpuPct: 1, memoryUsedMb: 1, diskUsedGb: 1, loadAvg: [] };
const vm = (id: string, powerState: VmStatus["powerState"]): VmStatus => ({
  id,
  name: id,
  arch: "x86_64",
  powerState,
  emulated: false,
  accel: "kvm",
  vcpus: 1,
  memoryMb: 256,
});

function call(token: string | null, body: unknown, fingerprint: string | null = null): AgentHeartbeatCall {
  const bytes = Buffer.from(typeof body === "string" ? body : JSON.stringify(body));
  return {
    authorization: token === null ? null : `Bearer ${token}`,
    clientCertFingerprint: fingerprint,
    body: async (max) => (bytes.length > max ? null : bytes),
  };
}

async function answer(c: AgentHeartbeatCall) {
  const a = await agentHeartbeatHook(c);
  return { status: a.status, json: JSON.parse(a.body) as { error?: { code: string; message: string } } };
}

describe.each(PROVIDERS)("heartbeat fast path on %s", (provider) => {
  let database: TestDatabase | undefined;
  let hostId: string;
  let token: string;
  beforeEach(async () => {
    database = await useFreshDatabase(provider);
    ({ hostId, hostToken: token } = await registerHost(
      { joinToken: await getJoinToken(), agentUrl: "http://127.0.0.1:7111", facts },
      null,
    ));
    await db().host.update({ where: { id: hostId }, data: { status: "offline", lastHeartbeatAt: new Date(0) } });
  });
  afterEach(async () => {
    delete process.env.POLYARCH_HA_LEASE_MS;
    await releaseDatabase(database);
  });

  it("refuses what the route refuses, before writing anything", async () => {
    expect((await answer(call(null, { usage, vms: [] }))).status).toBe(401);
    expect((await answer(call("not-a-token", { usage, vms: [] }))).status).toBe(401);
    expect((await answer(call(token, "{not json"))).json.error?.code).toBe("invalid");
    const bad = await answer(call(token, { usage, vms: [{ id: "x" }] }));
    expect([bad.status, bad.json.error?.message]).toEqual([400, expect.stringMatching(/^Invalid request body/)]);
    const big = await answer(call(token, { usage, vms: [], pad: "x".repeat(MAX_HEARTBEAT_BYTES) }));
    expect([big.status, big.json.error?.code]).toEqual([413, "too_large"]);
    const arm: HostFacts = {
      ...facts,
      arch: "aarch64",
      nativeArches: ["aarch64"],
      qemu: { ...facts.qemu, binaries: { aarch64: "/usr/bin/qemu-system-aarch64" } },
    };
    const arch = await answer(call(token, { usage, vms: [], facts: arm }));
    expect([arch.status, arch.json.error?.message]).toEqual([409, expect.stringMatching(/joined as x86_64/)]);
    // A pinned certificate must be the one presented (the listener passes the verified fingerprint).
    await db().host.update({ where: { id: hostId }, data: { certFingerprint: "a".repeat(64) } });
    expect((await answer(call(token, { usage, vms: [] }, "b".repeat(64)))).status).toBe(401);
    expect((await answer(call(token, { usage, vms: [] }, null))).status).toBe(401);
    expect((await db().host.findUniqueOrThrow({ where: { id: hostId } })).status).toBe("offline");
    // A host waiting for approval may heart-beat.
    await db().host.update({ where: { id: hostId }, data: { approval: "pending" } });
    expect((await answer(call(token, { usage, vms: [] }, "a".repeat(64)))).status).toBe(200);
  });

  it("an answered heartbeat has the host online, the VM status and the samples written; the lease is in the answer", async () => {
    process.env.POLYARCH_HA_LEASE_MS = "20000";
    resetEnvForTests();
    await db().vm.create({
      data: { id: "vm-a", name: "vm-a", arch: "x86_64", vcpus: 1, memoryMb: 256, diskGb: 1, hostId, status: "running" },
    });
    const before = Date.now();
    const metrics = { windowMs: 5000, host: { cpuPct: 7, memUsedMb: 100, memTotalMb: 8192 }, vms: [] };
    const a = await agentHeartbeatHook(call(token, { usage, vms: [vm("vm-a", "shutoff")], metrics }));
    expect(a.status).toBe(200);
    expect(heartbeatResponseSchema.parse(JSON.parse(a.body)).fenceAfterMs).toBe(20_000);
    const host = await db().host.findUniqueOrThrow({ where: { id: hostId } });
    expect(host.status).toBe("online");
    expect(host.lastHeartbeatAt!.getTime()).toBeGreaterThanOrEqual(before);
    expect((await db().vm.findUniqueOrThrow({ where: { id: "vm-a" } })).status).toBe("stopped");
    expect(await db().metricSample.count({ where: { hostId } })).toBe(1);
  });

  it("heartbeats that arrive together are each answered only once their batch is written", async () => {
    const hosts = [{ hostId, token }];
    for (let i = 1; i < 12; i++) {
      const r = await registerHost(
        {
          joinToken: await getJoinToken(),
          agentUrl: `http://127.0.0.1:${7111 + i}`,
          facts: { ...facts, machineId: `machine-hb-${i}`, hostname: `node-hb-${i}` },
        },
        null,
      );
      hosts.push({ hostId: r.hostId, token: r.hostToken });
    }
    await db().host.updateMany({ data: { status: "offline", lastHeartbeatAt: new Date(0) } });
    const before = Date.now();
    const metrics = { windowMs: 5000, host: { cpuPct: 3, memUsedMb: 100, memTotalMb: 8192 }, vms: [] };
    await Promise.all(
      hosts.map(async (h) => {
        expect((await agentHeartbeatHook(call(h.token, { usage, vms: [], metrics }))).status).toBe(200);
        const row = await db().host.findUniqueOrThrow({ where: { id: h.hostId } });
        expect([row.status, row.lastHeartbeatAt!.getTime() >= before]).toEqual(["online", true]);
        expect(await db().metricSample.count({ where: { hostId: h.hostId } })).toBe(1);
      }),
    );
  });

  it("reads that come together (one statement on PostgreSQL) each get their own host and VMs", async () => {
    const other = await registerHost(
      {
        joinToken: await getJoinToken(),
        agentUrl: "http://127.0.0.1:7200",
        facts: { ...facts, machineId: "machine-hb-other", hostname: "node-hb-other" },
      },
      null,
    );
    const vmOn = (id: string, on: string) =>
      db().vm.create({
        data: { id, name: id, arch: "x86_64", vcpus: 1, memoryMb: 256, diskGb: 1, hostId: on, status: "running" },
      });
    await vmOn("vm-mine-1", hostId);
    await vmOn("vm-mine-2", hostId);
    await vmOn("vm-other", other.hostId);
    const read = async (t: string) => {
      const r = await heartbeatRows({ tokenHash: sha256(t) });
      return r && { host: r.host.id, vms: r.vms.map((v) => v.id).sort() };
    };
    const mine = { host: hostId, vms: ["vm-mine-1", "vm-mine-2"] };
    const theirs = { host: other.hostId, vms: ["vm-other"] };
    // The first read after a quiet spell goes alone; the ones behind it share the next statement.
    const together = await Promise.all([read(token), read(other.hostToken), read("no-such-token"), read(token)]);
    expect(together).toEqual([mine, theirs, null, mine]);
    expect(await Promise.all([read(other.hostToken), read(token)])).toEqual([theirs, mine]);
  });

  it("a full report stores facts and address that changed; the same again leaves the row as it is", async () => {
    const stored = async () => {
      const row = await db().host.findUniqueOrThrow({
        where: { id: hostId },
        select: { facts: true, kvm: true, nativeArches: true, emulatedArches: true, qemuVersion: true, agentUrl: true },
      });
      return { ...row, facts: JSON.parse(row.facts!) as unknown };
    };
    const send = async (body: object) =>
      expect((await answer(call(token, { usage, vms: [], ...body }))).status).toBe(200);
    const registered = await stored();
    await send({ facts, agentUrl: "http://127.0.0.1:7111" });
    expect(await stored()).toEqual(registered);
    const changed: HostFacts = {
      ...facts,
      kvm: false,
      emulatedArches: ["aarch64"],
      qemu: { ...facts.qemu, version: "9.0.0" },
    };
    for (const f of [changed, changed, facts]) {
      await send({ facts: f });
      expect(await stored()).toEqual({
        facts: f,
        kvm: f.kvm,
        nativeArches: JSON.stringify(f.nativeArches),
        emulatedArches: JSON.stringify(f.emulatedArches),
        qemuVersion: f.qemu.version,
        agentUrl: "http://127.0.0.1:7111",
      });
    }
    await send({ agentUrl: "http://127.0.0.1:7199" });
    expect((await stored()).agentUrl).toBe("http://127.0.0.1:7199");
    await send({ facts, agentUrl: "http://127.0.0.1:7199" });
    expect(await stored()).toEqual({ ...registered, agentUrl: "http://127.0.0.1:7199" });
  });

  it.runIf(provider === "postgresql")("503 when the database cannot be reached", async () => {
    const url = new URL(database!.url);
    url.port = "1"; // nothing listens there
    process.env.DATABASE_URL = url.toString();
    resetEnvForTests();
    await resetDbForTests();
    const a = await answer(call(token, { usage, vms: [] }));
    expect([a.status, a.json.error?.code]).toEqual([503, "database_unavailable"]);
    process.env.DATABASE_URL = database!.url;
    resetEnvForTests();
    await resetDbForTests();
  });
});
