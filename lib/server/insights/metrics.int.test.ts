import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import type { TestDatabase } from "../../../prisma/test-db";
import type { HeartbeatMetrics, HostFacts } from "../../schemas/agent-api";
import { heartbeatRequestSchema } from "../../schemas/agent-api";
import { hostMetricsDtoSchema, vmMetricsDtoSchema } from "../../schemas/metrics";
import { db } from "../platform";
import { getJoinToken, registerHost } from "../hosts";
import { recordHeartbeat } from "../vms";
import { hostMetrics, METRICS_MAX_SAMPLES_PER_SERIES, recordMetrics, sweepMetrics, vmMetrics } from "./metrics";
import { createUser } from "../identity";
import { createToken } from "../identity";
import type { Actor } from "../platform";
import { GET as getHostMetricsRoute } from "../../../app/api/v1/hosts/[id]/metrics/route";
import { GET as getVmMetricsRoute } from "../../../app/api/v1/vms/[id]/metrics/route";

const facts: HostFacts = {
  hostname: "node-m",
  machineId: "machine-metrics",
  arch: "x86_64",
  cpuCount: 4,
  cpuModel: "Test CPU",
  memoryMb: 8192,
  diskGb: 100,
  kvm: true,
  qemu: { version: "7.2.0", binaries: { x86_64: "/usr/bin/qemu-system-x86_64" }, firmware: {} },
  ovs: { available: true, version: "3.1.0", datapath: "netdev" },
  nativeArches: ["x86_64"],
  emulatedArches: [],
  maxVcpusNative: 4,
  maxVcpusEmulated: null,
  agentVersion: "0.1.0",
};
const usage = { cpuPct: 1, memoryUsedMb: 1, diskUsedGb: 1, loadAvg: [] };

function metrics(cpu: number, vms: HeartbeatMetrics["vms"] = []): HeartbeatMetrics {
  return { windowMs: 5_000, host: { cpuPct: cpu, memUsedMb: 2048 + Math.round(cpu), memTotalMb: 8192 }, vms };
}

describe.each(PROVIDERS)("metrics on %s", (provider) => {
  let database: TestDatabase | undefined;
  let hostId: string;
  let otherHostId: string;
  beforeEach(async () => {
    database = await useFreshDatabase(provider);
    hostId = (await registerHost({ joinToken: await getJoinToken(), agentUrl: "http://127.0.0.1:7101", facts }, null))
      .hostId;
    otherHostId = (
      await registerHost(
        {
          joinToken: await getJoinToken(),
          agentUrl: "http://127.0.0.1:7102",
          facts: { ...facts, machineId: "machine-other", hostname: "node-o" },
        },
        null,
      )
    ).hostId;
  });
  afterEach(async () => {
    await releaseDatabase(database);
  });

  async function vmOn(host: string, name: string) {
    return db().vm.create({
      data: {
        name,
        arch: "x86_64",
        vcpus: 2,
        memoryMb: 512,
        diskGb: 1,
        hostId: host,
        status: "running",
        powerState: "running",
      },
    });
  }

  it("a heartbeat's samples are stored for the host and its own VMs only; reads return them oldest first", async () => {
    const mine = await vmOn(hostId, "mine");
    const foreign = await vmOn(otherHostId, "foreign");
    const body = heartbeatRequestSchema.parse({
      usage,
      vms: [],
      metrics: metrics(12.5, [
        { id: mine.id, cpuPct: 150, rssMb: 300 },
        { id: foreign.id, cpuPct: 99, rssMb: 99 },
        { id: "not-a-vm", cpuPct: 1, rssMb: 1 },
      ]),
    });
    await recordHeartbeat(hostId, body);
    expect(await db().metricSample.count()).toBe(2);

    const h = await hostMetrics(hostId, 15);
    expect(hostMetricsDtoSchema.safeParse(h).error).toBeUndefined();
    expect(h).toMatchObject({ hostId, minutes: 15, cpuCount: 4, memTotalMb: 8192 });
    expect(h.samples.map((s) => [s.cpuPct, s.memUsedMb])).toEqual([[12.5, 2061]]);
    const v = await vmMetrics(mine.id, 15);
    expect(vmMetricsDtoSchema.safeParse(v).error).toBeUndefined();
    expect(v).toMatchObject({ vmId: mine.id, vcpus: 2, memoryMb: 512 });
    expect(v.samples.map((s) => [s.cpuPct, s.memUsedMb])).toEqual([[150, 300]]);
    // Another host's agent cannot write this VM's history.
    expect((await vmMetrics(foreign.id, 15)).samples).toEqual([]);

    // A heartbeat without metrics (an older agent) changes nothing and still works.
    await recordHeartbeat(hostId, { usage, vms: [] });
    expect(await db().metricSample.count()).toBe(2);

    // Series come back oldest first and only within the asked window.
    const t0 = Date.now();
    for (let i = 1; i <= 3; i++) await recordMetrics(hostId, metrics(i), { now: new Date(t0 + i * 5_000) });
    const later = await hostMetrics(hostId, 1, new Date(t0 + 15_000));
    expect(later.samples.map((s) => s.cpuPct)).toEqual([12.5, 1, 2, 3]);
    expect((await hostMetrics(hostId, 1, new Date(t0 + 15_000 + 59_000))).samples.map((s) => s.cpuPct)).toEqual([3]);

    await expect(hostMetrics("no-such-host", 15)).rejects.toMatchObject({ code: "not_found" });
    await expect(vmMetrics("no-such-vm", 15)).rejects.toMatchObject({ code: "not_found" });
  });

  it("keeps a bounded history: at most one sample per spacing, nothing older than the retention", async () => {
    const vm = await vmOn(hostId, "busy");
    const t0 = Date.UTC(2026, 0, 1);
    const opts = (i: number) => ({
      now: new Date(t0 + i * 1_000),
      retentionMs: 60_000,
      minSpacingMs: 4_000,
      pruneEveryMs: 10_000,
    });
    let stored = 0;
    // 200 heartbeats one second apart (nudged agent): only every 4th is kept, and only the last
    // minute (plus what accumulates between prunes, every 10 s here).
    for (let i = 0; i < 200; i++)
      if ((await recordMetrics(hostId, metrics(i % 100, [{ id: vm.id, cpuPct: i, rssMb: 100 }]), opts(i))).stored)
        stored++;
    expect(stored).toBe(50);
    const hostRows = await db().metricSample.findMany({ where: { hostId }, orderBy: { at: "asc" } });
    const vmRows = await db().metricSample.findMany({ where: { vmId: vm.id }, orderBy: { at: "asc" } });
    for (const rows of [hostRows, vmRows]) {
      expect(rows.length).toBeLessThanOrEqual((60_000 + 10_000) / 4_000 + 1);
      expect(rows.length).toBeGreaterThanOrEqual(60_000 / 4_000 - 1);
      expect(rows[0]!.at.getTime()).toBeGreaterThanOrEqual(rows.at(-1)!.at.getTime() - 70_000);
      expect(rows.at(-1)!.at.getTime()).toBe(t0 + 196_000);
      for (let i = 1; i < rows.length; i++)
        expect(rows[i]!.at.getTime() - rows[i - 1]!.at.getTime()).toBeGreaterThanOrEqual(4_000);
    }
    // The default bound: 60 minutes (+ 1 between prunes) at one sample per 4 s.
    expect(METRICS_MAX_SAMPLES_PER_SERIES).toBe(915);

    // A stopped VM's series no longer gets pruned on write; the sweep removes it once it is old.
    await recordMetrics(hostId, metrics(1), opts(400));
    expect(await db().metricSample.count({ where: { vmId: vm.id } })).toBe(vmRows.length);
    expect(await sweepMetrics(new Date(t0 + 400_000), 60_000)).toBe(vmRows.length);
    expect(await db().metricSample.count({ where: { vmId: vm.id } })).toBe(0);
    expect(await db().metricSample.count({ where: { hostId } })).toBe(1);

    // Deleting the host or the VM deletes their history.
    await recordMetrics(hostId, metrics(1, [{ id: vm.id, cpuPct: 1, rssMb: 1 }]), opts(500));
    await db().vm.delete({ where: { id: vm.id } });
    expect(await db().metricSample.count({ where: { vmId: { not: null } } })).toBe(0);
    await db().host.delete({ where: { id: hostId } });
    expect(await db().metricSample.count()).toBe(0);
  });

  it("the JSON API needs a signed-in user, validates ?minutes and 404s unknown ids", async () => {
    const vm = await vmOn(hostId, "api-vm");
    await recordMetrics(hostId, metrics(40, [{ id: vm.id, cpuPct: 80, rssMb: 200 }]));
    const { id } = await createUser({
      email: "viewer@t.test",
      name: "Viewer",
      role: "viewer",
      password: "viewer-password-1",
    });
    const viewer: Actor = { id, email: "viewer@t.test", name: "Viewer", role: "viewer", via: "session" };
    const { token } = await createToken(viewer, "metrics", 0, null);

    const call = (
      route: typeof getHostMetricsRoute,
      kind: string,
      target: string,
      query = "",
      auth: string | null = token,
    ) =>
      route(
        new Request(`http://localhost/api/v1/${kind}/${target}/metrics${query}`, {
          headers: auth ? { authorization: `Bearer ${auth}` } : {},
        }),
        { params: Promise.resolve({ id: target }) },
      );

    expect((await call(getHostMetricsRoute, "hosts", hostId, "", null)).status).toBe(401);
    expect((await call(getVmMetricsRoute, "vms", vm.id, "", "pa_wrong-token")).status).toBe(401);

    const h = await call(getHostMetricsRoute, "hosts", hostId, "?minutes=60");
    expect(h.status).toBe(200);
    const hb = hostMetricsDtoSchema.parse(await h.json());
    expect(hb.minutes).toBe(60);
    expect(hb.samples.map((s) => s.cpuPct)).toEqual([40]);
    const v = await call(getVmMetricsRoute, "vms", vm.id);
    expect(v.status).toBe(200);
    const vb = vmMetricsDtoSchema.parse(await v.json());
    expect(vb.minutes).toBe(15);
    expect(vb.samples.map((s) => [s.cpuPct, s.memUsedMb])).toEqual([[80, 200]]);

    for (const q of ["?minutes=0", "?minutes=61", "?minutes=abc", "?minutes=1.5"]) {
      const r = await call(getHostMetricsRoute, "hosts", hostId, q);
      expect(r.status, q).toBe(400);
      expect((await r.json()).error.code).toBe("invalid");
    }
    expect((await call(getHostMetricsRoute, "hosts", "nope")).status).toBe(404);
    expect((await call(getVmMetricsRoute, "vms", "nope")).status).toBe(404);
  });
});
