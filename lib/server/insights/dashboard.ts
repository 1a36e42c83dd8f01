import "server-only";
// The dashboard: counts per architecture and status (grouped counts, no row scans in JS), capacity
// per architecture as the scheduler counts it (lib/scheduler/capacity.ts: allocation ratios and
// reservations), and the task activity.
import { ARCHES, type Arch } from "../../arch";
import { hostCapacity } from "../../scheduler/capacity";
import type { Prisma } from "../../generated/sqlite/client";
import { db } from "../platform";
import { displayHostStatus } from "../hosts";
import { taskInclude, toTaskEventDtos, type TaskWhere } from "./events";
import type { z } from "zod";
import type { summaryDtoSchema } from "../../schemas/events";

type Counts = Record<Arch, Record<string, number>>;

export const DASHBOARD_TASKS = 8;

function empty(): Counts {
  return { x86_64: {}, aarch64: {} };
}

function add(c: Counts, arch: string, status: string, n: number) {
  if (!(ARCHES as readonly string[]).includes(arch)) return;
  const bucket = c[arch as Arch];
  bucket[status] = (bucket[status] ?? 0) + n;
}

function emptyCapacity() {
  return {
    hosts: 0,
    cpus: 0,
    memoryMb: 0,
    allocatedCpus: 0,
    allocatedMemoryMb: 0,
    vcpuTotal: 0,
    vcpuUsed: 0,
    vcpuFree: 0,
    memoryTotalMb: 0,
    memoryUsedMb: 0,
    memoryFreeMb: 0,
    schedulable: { hosts: 0, vcpuFree: 0, memoryFreeMb: 0 },
  };
}
export type ArchCapacity = ReturnType<typeof emptyCapacity>;

const CAPACITY_FIELDS = {
  arch: true,
  status: true,
  adminState: true,
  cpuCount: true,
  memoryMb: true,
  diskGb: true,
  cpuAllocationRatio: true,
  ramAllocationRatio: true,
  reservedCpus: true,
  reservedMemoryMb: true,
  reservedDiskGb: true,
  allocatedCpus: true,
  allocatedMemoryMb: true,
  allocatedDiskGb: true,
} as const;

/**
 * Capacity per host architecture. Totals are per host (floor(physical × ratio) − reserved, summed),
 * so the numbers add up to what the scheduler would offer host by host; `schedulable` keeps only
 * hosts a VM can land on now (online and enabled). Hosts are read with a narrow select: the
 * per-host floor cannot be done by a SQL SUM.
 */
export async function capacityByArch(): Promise<Record<Arch, ArchCapacity>> {
  const out: Record<Arch, ArchCapacity> = { x86_64: emptyCapacity(), aarch64: emptyCapacity() };
  const hosts = await db().host.findMany({ select: CAPACITY_FIELDS });
  for (const h of hosts) {
    if (!(ARCHES as readonly string[]).includes(h.arch)) continue;
    const c = out[h.arch as Arch];
    const cap = hostCapacity(h);
    c.hosts += 1;
    c.cpus += h.cpuCount;
    c.memoryMb += h.memoryMb;
    c.allocatedCpus += h.allocatedCpus;
    c.allocatedMemoryMb += h.allocatedMemoryMb;
    c.vcpuTotal += cap.vcpuTotal;
    c.vcpuUsed += cap.vcpuUsed;
    c.vcpuFree += cap.vcpuFree;
    c.memoryTotalMb += cap.memoryTotalMb;
    c.memoryUsedMb += cap.memoryUsedMb;
    c.memoryFreeMb += cap.memoryFreeMb;
    if (h.status === "online" && h.adminState === "enabled") {
      c.schedulable.hosts += 1;
      c.schedulable.vcpuFree += cap.vcpuFree;
      c.schedulable.memoryFreeMb += cap.memoryFreeMb;
    }
  }
  return out;
}

/** `scope` narrows VM and image counts and task lists to what the caller may see (hosts and capacity are fleet-wide). */
export async function dashboardSummary(
  scope: { vm?: Prisma.VmWhereInput; image?: Prisma.ImageWhereInput; task?: TaskWhere } = {},
) {
  const taskScope = scope.task ?? {};
  const dayAgo = new Date(Date.now() - 24 * 3600_000);
  const failedWhere: TaskWhere = { AND: [taskScope, { status: "failed" }] };
  const [hostGroups, vmGroups, imageGroups, capacity, running, failedLast24h, recentRows, failedRows] =
    await Promise.all([
      db().host.groupBy({ by: ["arch", "status", "adminState"], _count: { _all: true } }),
      db().vm.groupBy({ by: ["arch", "status"], where: scope.vm ?? {}, _count: { _all: true } }),
      db().image.groupBy({ by: ["arch", "status"], where: scope.image ?? {}, _count: { _all: true } }),
      capacityByArch(),
      db().task.count({ where: { AND: [taskScope, { status: { in: ["pending", "running"] } }] } }),
      db().task.count({ where: { AND: [failedWhere, { finishedAt: { gte: dayAgo } }] } }),
      db().task.findMany({
        where: taskScope,
        orderBy: [{ createdAt: "desc" }, { id: "desc" }],
        take: DASHBOARD_TASKS,
        include: taskInclude,
      }),
      db().task.findMany({
        where: failedWhere,
        orderBy: [{ finishedAt: { sort: "desc", nulls: "last" } }, { id: "desc" }],
        take: DASHBOARD_TASKS,
        include: taskInclude,
      }),
    ]);
  const hosts = empty();
  for (const g of hostGroups) add(hosts, g.arch, displayHostStatus(g), g._count._all);
  const vms = empty();
  for (const g of vmGroups) add(vms, g.arch, g.status, g._count._all);
  const images = empty();
  for (const g of imageGroups) add(images, g.arch, g.status, g._count._all);
  const [recent, failed] = await Promise.all([toTaskEventDtos(recentRows), toTaskEventDtos(failedRows)]);
  return { hosts, vms, images, capacity, tasks: { running, failedLast24h, recent, failed } } satisfies z.input<
    typeof summaryDtoSchema
  >;
}
