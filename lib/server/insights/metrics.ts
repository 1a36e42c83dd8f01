import "server-only";
// CPU / memory history of hosts and VMs (MetricSample), fed by the agents' heartbeats and read by
// the host and VM pages' charts.
//
// Bound: a host's heartbeat stores one row for the host and one per VM placed on it, at most once
// every METRICS_MIN_SPACING_MS (4 s; heartbeats come every 5 s, nudged ones in between are
// dropped), and rows older than METRICS_RETENTION_MS (60 min) are deleted: per series at most
// 60 min / 4 s = 900 rows (≈ 720 at the normal 5 s), plus up to a minute more between prunes.
// Pruning happens on write, by index, for the reporting host and its VMs, at most once a minute
// per host; rows of series that stopped reporting (a stopped VM, an offline host) go in a
// table-wide sweep at most every 10 minutes per controller process.
import { AppError } from "../../errors";
import type { HeartbeatMetrics } from "../../schemas/agent-api";
import {
  METRICS_RETENTION_MINUTES,
  type HostMetricsDto,
  type MetricPoint,
  type VmMetricsDto,
} from "../../schemas/metrics";
import { db } from "../platform";
import { logError } from "../platform";

export const METRICS_RETENTION_MS = METRICS_RETENTION_MINUTES * 60_000;
export const METRICS_MIN_SPACING_MS = 4_000;
const PRUNE_EVERY_MS = 60_000;
export const METRICS_MAX_SAMPLES_PER_SERIES = Math.ceil(
  (METRICS_RETENTION_MS + PRUNE_EVERY_MS) / METRICS_MIN_SPACING_MS,
);
const SWEEP_EVERY_MS = 10 * 60_000;
/** keeps `IN (...)` lists and multi-row inserts well under SQLite's / PostgreSQL's parameter limits */
const CHUNK = 500;

let lastSweepAt = 0;
/** per host: when this process last pruned its series */
const lastPruneAt = new Map<string, number>();

function chunks<T>(items: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, i + CHUNK));
  return out;
}

export interface RecordMetricsOptions {
  now?: Date;
  retentionMs?: number;
  minSpacingMs?: number;
  pruneEveryMs?: number;
  /** Ids of the VMs placed on this host, when the caller already loaded them (the heartbeat does). */
  placedVmIds?: Iterable<string>;
}

/**
 * Stores one heartbeat's samples. VM samples count only for VMs the controller has placed on this
 * host (an agent cannot write another host's VM history). Returns what was stored.
 */
export async function recordMetrics(
  hostId: string,
  metrics: HeartbeatMetrics,
  opts: RecordMetricsOptions = {},
): Promise<{ stored: boolean; vms: number }> {
  const now = opts.now ?? new Date();
  const retentionMs = opts.retentionMs ?? METRICS_RETENTION_MS;
  const minSpacingMs = opts.minSpacingMs ?? METRICS_MIN_SPACING_MS;
  const pruneEveryMs = opts.pruneEveryMs ?? PRUNE_EVERY_MS;

  // Host rows have hostId set and vmId null; VM rows the reverse. Newest host row, by (hostId, at).
  const last = await db().metricSample.findFirst({ where: { hostId }, orderBy: { at: "desc" }, select: { at: true } });
  if (last && now.getTime() - last.at.getTime() < minSpacingMs && last.at.getTime() <= now.getTime())
    return { stored: false, vms: 0 };

  const placed = new Set(
    opts.placedVmIds ?? (await db().vm.findMany({ where: { hostId }, select: { id: true } })).map((v) => v.id),
  );
  const seen = new Set<string>();
  const vmRows = metrics.vms
    .filter((v) => placed.has(v.id) && !seen.has(v.id) && seen.add(v.id))
    .map((v) => ({ vmId: v.id, at: now, cpuPct: v.cpuPct, memUsedMb: v.rssMb }));
  const rows = [{ hostId, at: now, cpuPct: metrics.host.cpuPct, memUsedMb: metrics.host.memUsedMb }, ...vmRows];
  for (const part of chunks(rows)) await db().metricSample.createMany({ data: part });

  const prunedAt = lastPruneAt.get(hostId);
  if (prunedAt === undefined || Math.abs(now.getTime() - prunedAt) >= pruneEveryMs) {
    lastPruneAt.set(hostId, now.getTime());
    const cutoff = new Date(now.getTime() - retentionMs);
    await db().metricSample.deleteMany({ where: { hostId, at: { lt: cutoff } } });
    for (const part of chunks(vmRows.map((r) => r.vmId)))
      await db().metricSample.deleteMany({ where: { vmId: { in: part }, at: { lt: cutoff } } });
  }

  if (Math.abs(now.getTime() - lastSweepAt) >= SWEEP_EVERY_MS) {
    lastSweepAt = now.getTime();
    await sweepMetrics(now, retentionMs);
  }
  return { stored: true, vms: vmRows.length };
}

/** Deletes every sample older than the retention (series that stopped reporting). */
export async function sweepMetrics(now = new Date(), retentionMs = METRICS_RETENTION_MS): Promise<number> {
  return (await db().metricSample.deleteMany({ where: { at: { lt: new Date(now.getTime() - retentionMs) } } })).count;
}

/** recordMetrics for the heartbeat: history is secondary to the VM state the heartbeat carries, so it never throws. */
export async function recordHeartbeatMetrics(
  hostId: string,
  metrics: HeartbeatMetrics | undefined,
  placedVmIds: Iterable<string>,
): Promise<void> {
  if (!metrics) return;
  try {
    await recordMetrics(hostId, metrics, { placedVmIds });
  } catch (error) {
    logError("storing heartbeat metrics failed", error, { hostId });
  }
}

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
