import "server-only";
// CPU / memory history of hosts and VMs (MetricSample), read by the host and VM pages' charts;
// written from the agents' heartbeats by metrics-ingest.ts (its header states the bound).
import { AppError } from "../../errors";
import type { HostMetricsDto, MetricPoint, VmMetricsDto } from "../../schemas/metrics";
import { db } from "../platform";
import { METRICS_MAX_SAMPLES_PER_SERIES } from "./metrics-ingest";

export {
  heartbeatMetricRows,
  insertMetricRows,
  METRICS_MAX_SAMPLES_PER_SERIES,
  METRICS_MIN_SPACING_MS,
  METRICS_RETENTION_MS,
  pruneDueSeries,
  recordMetrics,
  sweepMetrics,
  type MetricRow,
  type RecordMetricsOptions,
} from "./metrics-ingest";

type SeriesWhere = { hostId: string } | { vmId: string };

async function series(where: SeriesWhere, minutes: number, now: Date): Promise<MetricPoint[]> {
  const rows = await db().metricSample.findMany({
    where: { ...where, at: { gte: new Date(now.getTime() - minutes * 60_000) } },
    orderBy: { at: "desc" },
    take: METRICS_MAX_SAMPLES_PER_SERIES,
    select: { at: true, cpuPct: true, memUsedMb: true },
  });
  return rows.reverse().map((r) => ({ at: r.at.toISOString(), cpuPct: r.cpuPct, memUsedMb: r.memUsedMb }));
}

/** A host's samples of the last `minutes`, oldest first. */
export async function hostMetrics(hostId: string, minutes: number, now = new Date()): Promise<HostMetricsDto> {
  const host = await db().host.findUnique({
    where: { id: hostId },
    select: { id: true, cpuCount: true, memoryMb: true },
  });
  if (!host) throw new AppError({ code: "not_found", message: `Host ${hostId} does not exist.` });
  return {
    hostId,
    minutes,
    now: now.toISOString(),
    cpuCount: host.cpuCount,
    memTotalMb: host.memoryMb,
    samples: await series({ hostId }, minutes, now),
  };
}

/** A VM's samples of the last `minutes`, oldest first (its QEMU process: 100 % = one host core, RSS). */
export async function vmMetrics(vmId: string, minutes: number, now = new Date()): Promise<VmMetricsDto> {
  const vm = await db().vm.findUnique({ where: { id: vmId }, select: { id: true, vcpus: true, memoryMb: true } });
  if (!vm) throw new AppError({ code: "not_found", message: `VM ${vmId} does not exist.` });
  return {
    vmId,
    minutes,
    now: now.toISOString(),
    vcpus: vm.vcpus,
    memoryMb: vm.memoryMb,
    samples: await series({ vmId }, minutes, now),
  };
}
