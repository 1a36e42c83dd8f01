import "server-only";
// Writing the CPU / memory history (MetricSample) that agents' heartbeats carry; metrics.ts reads it.
//
// Bound: a host's heartbeat stores one row for the host and one per VM placed on it, at most once
// every METRICS_MIN_SPACING_MS (4 s; heartbeats come every 5 s, nudged ones in between are
// dropped), and rows older than METRICS_RETENTION_MS (60 min) are deleted: per series at most
// 60 min / 4 s = 900 rows (≈ 720 at the normal 5 s), plus what arrives between prunes.
// Pruning is by index, for the series a host reported, at most once a minute per host; rows of
// series that stopped reporting (a stopped VM, an offline host) go in a table-wide sweep at most
// every 10 minutes per controller process.
//
// Cost (issue 16, 1,000 agents every 10 s): the spacing is checked against the time this process
// last stored the host's sample (the database is asked once per host and process), rows go in as
// one multi-row INSERT per heartbeat batch (lib/server/vms/heartbeat-writes.ts), and the prunes
// due are collected and run together every few seconds: Prisma's createMany cost ~0.13 ms of
// CPU per row here, the raw INSERT ~0.04 ms. With several controllers the spacing holds per
// process (an agent keeps its connection to one controller).
import { randomBytes } from "node:crypto";
import type { HeartbeatMetrics } from "../../schemas/agent-api";
import { METRICS_RETENTION_MINUTES } from "../../schemas/metrics";
import { db, driverTimestamp, logError, rawDriver, sqliteStatement } from "../platform";

export const METRICS_RETENTION_MS = METRICS_RETENTION_MINUTES * 60_000;
export const METRICS_MIN_SPACING_MS = 4_000;
const PRUNE_EVERY_MS = 60_000;
/** heartbeats' prunes that fell due are run together at most this often */
const PRUNE_BATCH_MS = 5_000;
export const METRICS_MAX_SAMPLES_PER_SERIES = Math.ceil(
  (METRICS_RETENTION_MS + PRUNE_EVERY_MS) / METRICS_MIN_SPACING_MS,
);
const SWEEP_EVERY_MS = 10 * 60_000;
/** keeps `IN (...)` lists and multi-row inserts well under SQLite's / PostgreSQL's parameter limits */
const CHUNK = 500;

export interface MetricRow {
  id: string;
  at: Date;
  hostId: string | null;
  vmId: string | null;
  cpuPct: number;
  memUsedMb: number;
}

let lastSweepAt = 0;
/** per host: when this process last pruned its series */
const lastPruneAt = new Map<string, number>();
/** per host: the `at` of the last host sample this process stored (or found in the database) */
const lastStoredAt = new Map<string, number>();
/** series whose prune fell due in a heartbeat, run by pruneDueSeries */
const pruneDue = { hostIds: new Set<string>(), vmIds: new Set<string>(), lastRunAt: 0 };

function chunks<T>(items: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, i + CHUNK));
  return out;
}

// Ids sort by time like the cuids Prisma would generate (inserts append to the primary key index);
// the per-process tag keeps two controllers' ids apart.
const ID_TAG = randomBytes(4).toString("hex");
let idSeq = 0;
function metricId(at: Date): string {
  idSeq = (idSeq + 1) % 36 ** 5;
  return `m${at.getTime().toString(36).padStart(9, "0")}${ID_TAG}${idSeq.toString(36).padStart(5, "0")}`;
}

export interface RecordMetricsOptions {
  now?: Date;
  retentionMs?: number;
  minSpacingMs?: number;
  pruneEveryMs?: number;
  /** Ids of the VMs placed on this host, when the caller already loaded them (the heartbeat does). */
  placedVmIds?: Iterable<string>;
}

/** Whether a sample taken `now` keeps the spacing after the host's last stored one (and claims the slot). */
async function claimSampleSlot(hostId: string, now: number, minSpacingMs: number): Promise<boolean> {
  let last = lastStoredAt.get(hostId);
  if (last === undefined) {
    // Host rows have hostId set and vmId null; VM rows the reverse. Newest host row, by (hostId, at).
    const row = await db().metricSample.findFirst({ where: { hostId }, orderBy: { at: "desc" }, select: { at: true } });
    last = row?.at.getTime();
  }
  if (last !== undefined && now - last < minSpacingMs && last <= now) return false;
  lastStoredAt.set(hostId, now);
  return true;
}

/**
 * One heartbeat's samples as rows, or none while the spacing is not over. VM samples count only for
 * VMs the controller has placed on this host (an agent cannot write another host's VM history).
 */
export async function metricRowsFor(
  hostId: string,
  metrics: HeartbeatMetrics,
  opts: Pick<RecordMetricsOptions, "now" | "minSpacingMs" | "placedVmIds"> = {},
): Promise<MetricRow[]> {
  const at = opts.now ?? new Date();
  if (!(await claimSampleSlot(hostId, at.getTime(), opts.minSpacingMs ?? METRICS_MIN_SPACING_MS))) return [];
  const placed = new Set(
    opts.placedVmIds ?? (await db().vm.findMany({ where: { hostId }, select: { id: true } })).map((v) => v.id),
  );
  const seen = new Set<string>();
  const rows: MetricRow[] = [
    { id: metricId(at), at, hostId, vmId: null, cpuPct: metrics.host.cpuPct, memUsedMb: metrics.host.memUsedMb },
  ];
  for (const v of metrics.vms)
    if (placed.has(v.id) && !seen.has(v.id) && seen.add(v.id))
      rows.push({ id: metricId(at), at, hostId: null, vmId: v.id, cpuPct: v.cpuPct, memUsedMb: v.rssMb });
  return rows;
}

// The INSERT on the driver, prepared once (~0.04 ms a row through Prisma's $executeRaw was still
// most of the batch): PostgreSQL takes a batch as one statement over arrays, SQLite one prepared
// row statement run per row inside one transaction (no per-row parse, one commit).
const INSERT_PG = `INSERT INTO "MetricSample" ("id", "at", "hostId", "vmId", "cpuPct", "memUsedMb")
  SELECT * FROM unnest($1::text[], $2::timestamp(3)[], $3::text[], $4::text[], $5::float8[], $6::int4[])`;
const INSERT_SQLITE = `INSERT INTO "MetricSample" ("id", "at", "hostId", "vmId", "cpuPct", "memUsedMb") VALUES (?, ?, ?, ?, ?, ?)`;

async function insertRows(rows: MetricRow[]): Promise<void> {
  const driver = rawDriver();
  if (driver.kind === "sqlite") {
    await driver.write((conn) => {
      const insert = sqliteStatement(conn, INSERT_SQLITE);
      for (const r of rows) insert.run(r.id, driverTimestamp(driver, r.at), r.hostId, r.vmId, r.cpuPct, r.memUsedMb);
    });
    return;
  }
  for (const part of chunks(rows))
    await driver.query("metrics_insert", INSERT_PG, [
      part.map((r) => r.id),
      part.map((r) => driverTimestamp(driver, r.at)),
      part.map((r) => r.hostId),
      part.map((r) => r.vmId),
      part.map((r) => r.cpuPct),
      part.map((r) => r.memUsedMb),
    ]);
}

/**
 * Stores rows of many heartbeats at once. A host or VM deleted since its heartbeat was read fails
 * the foreign key of the whole statement: the rows of what still exists are then stored again.
 * Never throws: the history is secondary to the VM state the heartbeat carries.
 */
export async function insertMetricRows(rows: MetricRow[]): Promise<void> {
  if (rows.length === 0) return;
  try {
    await insertRows(rows);
  } catch (error) {
    try {
      const hostIds = [...new Set(rows.flatMap((r) => (r.hostId ? [r.hostId] : [])))];
      const vmIds = [...new Set(rows.flatMap((r) => (r.vmId ? [r.vmId] : [])))];
      const hosts = new Set<string>();
      const vms = new Set<string>();
      for (const part of chunks(hostIds))
        for (const h of await db().host.findMany({ where: { id: { in: part } }, select: { id: true } }))
          hosts.add(h.id);
      for (const part of chunks(vmIds))
        for (const v of await db().vm.findMany({ where: { id: { in: part } }, select: { id: true } })) vms.add(v.id);
      const alive = rows.filter((r) => (r.hostId ? hosts.has(r.hostId) : vms.has(r.vmId!)));
      if (alive.length === rows.length) throw error;
      await insertRows(alive);
    } catch (retryError) {
      logError("storing heartbeat metrics failed", retryError, { rows: rows.length });
    }
  }
}

async function pruneSeries(hostIds: string[], vmIds: string[], cutoff: Date): Promise<void> {
  for (const part of chunks(hostIds))
    await db().metricSample.deleteMany({ where: { hostId: { in: part }, at: { lt: cutoff } } });
  for (const part of chunks(vmIds))
    await db().metricSample.deleteMany({ where: { vmId: { in: part }, at: { lt: cutoff } } });
}

/** Marks the host's series for pruning when its minute is over; true when it was. */
function prunesNow(hostId: string, now: number, pruneEveryMs: number): boolean {
  const prunedAt = lastPruneAt.get(hostId);
  if (prunedAt !== undefined && Math.abs(now - prunedAt) < pruneEveryMs) return false;
  lastPruneAt.set(hostId, now);
  return true;
}

async function sweepIfDue(now: Date, retentionMs: number): Promise<void> {
  if (Math.abs(now.getTime() - lastSweepAt) < SWEEP_EVERY_MS) return;
  lastSweepAt = now.getTime();
  await sweepMetrics(now, retentionMs);
}

/**
 * Stores one heartbeat's samples now, with the host's prune when due (the heartbeat path batches
 * the same steps: heartbeatMetricRows, insertMetricRows, pruneDueSeries). Returns what was stored.
 */
export async function recordMetrics(
  hostId: string,
  metrics: HeartbeatMetrics,
  opts: RecordMetricsOptions = {},
): Promise<{ stored: boolean; vms: number }> {
  const now = opts.now ?? new Date();
  const retentionMs = opts.retentionMs ?? METRICS_RETENTION_MS;
  const rows = await metricRowsFor(hostId, metrics, { ...opts, now });
  if (rows.length === 0) return { stored: false, vms: 0 };
  await insertRows(rows);
  const vmIds = rows.flatMap((r) => (r.vmId ? [r.vmId] : []));
  if (prunesNow(hostId, now.getTime(), opts.pruneEveryMs ?? PRUNE_EVERY_MS))
    await pruneSeries([hostId], vmIds, new Date(now.getTime() - retentionMs));
  await sweepIfDue(now, retentionMs);
  return { stored: true, vms: vmIds.length };
}

/**
 * The rows a heartbeat's metrics add (for insertMetricRows), its series queued for pruning when
 * due. Never throws: a failed look-up costs the sample, not the heartbeat.
 */
export async function heartbeatMetricRows(
  hostId: string,
  metrics: HeartbeatMetrics | undefined,
  placedVmIds: Iterable<string>,
  now = new Date(),
): Promise<MetricRow[]> {
  if (!metrics) return [];
  try {
    const rows = await metricRowsFor(hostId, metrics, { now, placedVmIds });
    if (rows.length && prunesNow(hostId, now.getTime(), PRUNE_EVERY_MS)) {
      pruneDue.hostIds.add(hostId);
      for (const r of rows) if (r.vmId) pruneDue.vmIds.add(r.vmId);
    }
    return rows;
  } catch (error) {
    logError("heartbeat metrics not stored", error, { hostId });
    return [];
  }
}

/** Runs the prunes heartbeats queued (at most every few seconds) and the table-wide sweep when due. Never throws. */
export async function pruneDueSeries(now = new Date()): Promise<void> {
  try {
    if (pruneDue.hostIds.size && now.getTime() - pruneDue.lastRunAt >= PRUNE_BATCH_MS) {
      pruneDue.lastRunAt = now.getTime();
      const hostIds = [...pruneDue.hostIds];
      const vmIds = [...pruneDue.vmIds];
      pruneDue.hostIds.clear();
      pruneDue.vmIds.clear();
      await pruneSeries(hostIds, vmIds, new Date(now.getTime() - METRICS_RETENTION_MS));
    }
    await sweepIfDue(now, METRICS_RETENTION_MS);
  } catch (error) {
    logError("pruning heartbeat metrics failed", error);
  }
}

/** Deletes every sample older than the retention (series that stopped reporting). */
export async function sweepMetrics(now = new Date(), retentionMs = METRICS_RETENTION_MS): Promise<number> {
  return (await db().metricSample.deleteMany({ where: { at: { lt: new Date(now.getTime() - retentionMs) } } })).count;
}
