import "server-only";
// Counts per architecture and status for the dashboard, computed with grouped counts (no row scans in JS).
import { ARCHES, type Arch } from "../arch";
import { db } from "./db";
import { displayHostStatus } from "./hosts";

type Counts = Record<Arch, Record<string, number>>;

function empty(): Counts {
  return { x86_64: {}, aarch64: {} };
}

function add(c: Counts, arch: string, status: string, n: number) {
  if (!(ARCHES as readonly string[]).includes(arch)) return;
  const bucket = c[arch as Arch];
  bucket[status] = (bucket[status] ?? 0) + n;
}

export async function dashboardSummary() {
  const [hostGroups, vmGroups, imageGroups, capacity] = await Promise.all([
    db().host.groupBy({ by: ["arch", "status", "adminState"], _count: { _all: true } }),
    db().vm.groupBy({ by: ["arch", "status"], _count: { _all: true } }),
    db().image.groupBy({ by: ["arch", "status"], _count: { _all: true } }),
    db().host.groupBy({ by: ["arch"], _sum: { cpuCount: true, memoryMb: true, allocatedCpus: true, allocatedMemoryMb: true } }),
  ]);
  const hosts = empty();
  for (const g of hostGroups) add(hosts, g.arch, displayHostStatus(g), g._count._all);
  const vms = empty();
  for (const g of vmGroups) add(vms, g.arch, g.status, g._count._all);
  const images = empty();
  for (const g of imageGroups) add(images, g.arch, g.status, g._count._all);
  const cap = Object.fromEntries(
    ARCHES.map((a) => {
      const g = capacity.find((c) => c.arch === a);
      return [a, { cpus: g?._sum.cpuCount ?? 0, memoryMb: g?._sum.memoryMb ?? 0, allocatedCpus: g?._sum.allocatedCpus ?? 0, allocatedMemoryMb: g?._sum.allocatedMemoryMb ?? 0 }];
    }),
  ) as Record<Arch, { cpus: number; memoryMb: number; allocatedCpus: number; allocatedMemoryMb: number }>;
  return { hosts, vms, images, capacity: cap };
}
