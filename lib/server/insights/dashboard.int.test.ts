import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import type { TestDatabase } from "../../../prisma/test-db";
import { db } from "../platform";
import { toJsonSafe } from "../platform";
import { dashboardSummary, DASHBOARD_TASKS } from "./dashboard";
import { createToken } from "../identity";
import { addUserToProjects } from "../projects";
import { summaryDtoSchema } from "../../schemas/events";
import { GET as summaryRoute } from "../../../app/api/v1/summary/route";

type HostInput = {
  name: string;
  arch: string;
  status?: string;
  adminState?: string;
  cpuCount: number;
  memoryMb: number;
  cpuAllocationRatio?: number;
  ramAllocationRatio?: number;
  reservedCpus?: number;
  reservedMemoryMb?: number;
  allocatedCpus?: number;
  allocatedMemoryMb?: number;
};
const host = (h: HostInput) => db().host.create({ data: { diskGb: 100, status: "online", ...h } });

describe.each(PROVIDERS)("dashboard summary on %s", (provider) => {
  let database: TestDatabase | undefined;
  beforeEach(async () => {
    database = await useFreshDatabase(provider);
  });
  afterEach(async () => {
    await releaseDatabase(database);
  });

  it("capacity per architecture applies allocation ratios and reservations per host, like the scheduler", async () => {
    // x86_64: 100 CPUs × 0.29 = 28.999… → 29 (the scheduler's epsilon), − 1 reserved = 28 vCPUs;
    // 10 CPUs × 4 − 2 = 38. RAM 16384 × 1.5 − 1024 = 23552, and 8192 × 1 − 0 = 8192.
    await host({
      name: "x1",
      arch: "x86_64",
      cpuCount: 100,
      memoryMb: 16384,
      cpuAllocationRatio: 0.29,
      ramAllocationRatio: 1.5,
      reservedCpus: 1,
      reservedMemoryMb: 1024,
      allocatedCpus: 10,
      allocatedMemoryMb: 4096,
    });
    await host({
      name: "x2",
      arch: "x86_64",
      status: "offline",
      cpuCount: 10,
      memoryMb: 8192,
      reservedCpus: 2,
      allocatedCpus: 4,
      allocatedMemoryMb: 1024,
    });
    // aarch64: 64 × 4 = 256 − 0; one in maintenance; one overcommitted by a ratio cut (used > total → free 0).
    await host({
      name: "a1",
      arch: "aarch64",
      cpuCount: 64,
      memoryMb: 131072,
      allocatedCpus: 16,
      allocatedMemoryMb: 32768,
    });
    await host({
      name: "a2",
      arch: "aarch64",
      adminState: "maintenance",
      cpuCount: 8,
      memoryMb: 16384,
      allocatedCpus: 2,
      allocatedMemoryMb: 2048,
    });
    await host({
      name: "a3",
      arch: "aarch64",
      cpuCount: 4,
      memoryMb: 4096,
      cpuAllocationRatio: 1,
      allocatedCpus: 6,
      allocatedMemoryMb: 1024,
    });

    const s = await dashboardSummary();
    expect(s.capacity.x86_64).toEqual({
      hosts: 2,
      cpus: 110,
      memoryMb: 24576,
      allocatedCpus: 14,
      allocatedMemoryMb: 5120,
      vcpuTotal: 28 + 38,
      vcpuUsed: 14,
      vcpuFree: 18 + 34,
      memoryTotalMb: 23552 + 8192,
      memoryUsedMb: 5120,
      memoryFreeMb: 19456 + 7168,
      schedulable: { hosts: 1, vcpuFree: 18, memoryFreeMb: 19456 },
    });
    expect(s.capacity.aarch64).toEqual({
      hosts: 3,
      cpus: 76,
      memoryMb: 151552,
      allocatedCpus: 24,
      allocatedMemoryMb: 35840,
      vcpuTotal: 256 + 32 + 4,
      vcpuUsed: 24,
      vcpuFree: 240 + 30 + 0,
      memoryTotalMb: 151552,
      memoryUsedMb: 35840,
      memoryFreeMb: 98304 + 14336 + 3072,
      schedulable: { hosts: 2, vcpuFree: 240, memoryFreeMb: 98304 + 3072 },
    });
    expect(s.hosts).toEqual({ x86_64: { online: 1, offline: 1 }, aarch64: { online: 2, maintenance: 1 } });
  });

  it("counts VMs by arch and state, and reports running, recent and failed tasks", async () => {
    const statuses = [
      ["x86_64", "running"],
      ["x86_64", "running"],
      ["x86_64", "error"],
      ["aarch64", "running"],
      ["aarch64", "unknown"],
    ] as const;
    const vms = [];
    for (const [i, [arch, status]] of statuses.entries())
      vms.push(await db().vm.create({ data: { name: `vm-${i}`, arch, status, vcpus: 1, memoryMb: 256, diskGb: 1 } }));
    const now = Date.now();
    for (let i = 0; i < 12; i++) {
      const status = i === 11 ? "running" : i % 4 === 0 ? "failed" : "succeeded";
      await db().task.create({
        data: {
          id: `t-${String(i).padStart(2, "0")}`,
          kind: "vm.start",
          status,
          vmId: vms[i % vms.length]!.id,
          createdAt: new Date(now - (12 - i) * 60_000),
          finishedAt: status === "running" ? null : new Date(now - (12 - i) * 60_000 + 1000),
        },
      });
    }
    // A failure from two days ago: listed among failed tasks but not in the last 24 h.
    await db().task.create({
      data: {
        id: "t-old",
        kind: "vm.create",
        status: "failed",
        createdAt: new Date(now - 48 * 3600_000),
        finishedAt: new Date(now - 48 * 3600_000),
      },
    });

    const s = await dashboardSummary();
    expect(s.vms).toEqual({ x86_64: { running: 2, error: 1 }, aarch64: { running: 1, unknown: 1 } });
    expect(s.tasks.running).toBe(1);
    expect(s.tasks.failedLast24h).toBe(3);
    expect(s.tasks.recent.map((t) => t.id)).toEqual(
      ["t-11", "t-10", "t-09", "t-08", "t-07", "t-06", "t-05", "t-04"].slice(0, DASHBOARD_TASKS),
    );
    expect(s.tasks.failed.map((t) => t.id)).toEqual(["t-08", "t-04", "t-00", "t-old"]);
    expect(s.tasks.recent[0]!.vm).toMatchObject({ id: vms[1]!.id, name: "vm-1", arch: "x86_64" });
  });

  it("GET /api/v1/summary keeps its old fields, matches the documented shape, and needs a sign-in", async () => {
    await host({ name: "x1", arch: "x86_64", cpuCount: 8, memoryMb: 8192, allocatedCpus: 2, allocatedMemoryMb: 1024 });
    await db().user.create({ data: { id: "v", email: "v@t.test", name: "v", role: "viewer" } });
    await addUserToProjects("v");
    const { token } = await createToken(
      { id: "v", email: "v@t.test", name: "v", role: "viewer", via: "token" },
      "t",
      0,
      null,
    );
    const call = (headers: Record<string, string>) =>
      summaryRoute(new Request("http://localhost/api/v1/summary", { headers }), { params: Promise.resolve({}) });
    expect((await call({})).status).toBe(401);
    const res = await call({ authorization: `Bearer ${token}` });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(summaryDtoSchema.strict().parse(body)).toEqual(body);
    expect(toJsonSafe(await dashboardSummary())).toEqual(body);
    // The fields the first dashboard read are still there with the same meaning.
    expect(body.capacity.x86_64).toMatchObject({ cpus: 8, memoryMb: 8192, allocatedCpus: 2, allocatedMemoryMb: 1024 });
    expect(body.capacity.aarch64).toMatchObject({ cpus: 0, memoryMb: 0, allocatedCpus: 0, allocatedMemoryMb: 0 });
    expect(body.hosts.x86_64).toEqual({ online: 1 });
    expect(body.images).toEqual({ x86_64: {}, aarch64: {} });

    // Image counts are of the images the caller may see: another user's private image is not counted.
    const image = (visibility: string, ownerId: string | null) =>
      db().image.create({
        data: { name: `i-${visibility}`, arch: "aarch64", format: "raw", status: "ready", visibility, ownerId },
      });
    await image("private", "someone-else");
    await image("public", "someone-else");
    const counted = await (await call({ authorization: `Bearer ${token}` })).json();
    expect(counted.images.aarch64).toEqual({ ready: 1 });
    expect((await dashboardSummary()).images.aarch64).toEqual({ ready: 2 });
  });
});
