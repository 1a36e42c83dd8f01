import "server-only";
// The fleet as the scheduler sees it, kept in memory per controller process (issue 16, ADR 045).
//
// Reading every host row for every placement costs ~15 ms at 1,000 hosts and >100 ms at 10,000
// (Prisma's row mapping, not the query). Instead each placement asks the database one aggregate —
// the fleet's *stamp*: approved-host count, newest updatedAt, summed allocations — and reads rows
// only when the stamp moved:
//   - only updatedAt moved (heartbeats, facts, admin state: Prisma updates and the heartbeat writes set it):
//     re-read just the rows updated since the stamp we hold, minus a margin for late commits;
//   - count or sums moved (hosts added/removed/approved, claims and releases by anyone): full re-read.
// This process's own claims are applied to the copy and to its stamp, so a controller placing VMs
// back to back keeps hitting the copy. The copy is a hint, never the authority: the claim stays one
// conditional UPDATE in the database (claimHost), a lost claim re-reads everything, and a decision
// that finds no room re-reads everything before saying so — a stale copy can cost a retry, never an
// overcommit or a false "no room".
import { Prisma } from "../../generated/sqlite/client";
import { applyClaim } from "../../scheduler/claim";
import { hostSnapshotFromRow } from "../../scheduler/snapshot";
import type { HostSnapshot } from "../../scheduler/types";
import { db, type Db } from "../platform";

/**
 * Exactly the columns a HostSnapshot is built from: no `facts` JSON, certificates, tokens or
 * relations (the full row is several times wider; bench/placement-db.ts measures both).
 */
export const HOST_SNAPSHOT_SELECT = {
  id: true,
  name: true,
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
  nativeArches: true,
  emulatedArches: true,
  maxVcpusNative: true,
  maxVcpusEmulated: true,
  kvm: true,
  agentUrl: true,
} as const;

// Hosts waiting for an admin's approval (ADR 025) take no VMs: they are not candidates at all.
const APPROVED = { approval: "approved" } as const;

/** Rows committed this long after the updatedAt they carry are still picked up by the partial re-read. */
const LATE_COMMIT_MARGIN_MS = 2_000;
/** Even with a quiet stamp, read everything again this often (bounds any change the stamp cannot see). */
const MAX_AGE_MS = 30_000;

interface Stamp {
  count: number;
  newest: number; // updatedAt, ms since epoch (0: no hosts)
  cpus: number;
  memoryMb: number;
  diskGb: number;
}

interface Cached {
  stamp: Stamp;
  hosts: HostSnapshot[]; // ordered by name, like the full read
  readAt: number;
}

// Per Prisma client: tests switch databases (resetDbForTests makes a new client).
const caches = new WeakMap<Db, Cached>();

type Num = number | bigint | string | null;

/** Aggregates come back as bigint (PostgreSQL count/sum), number, or text (SQLite stores DateTime as ISO text). */
const num = (v: Num) => (v === null ? 0 : Number(v));
const ms = (v: Date | string | number | null) =>
  v === null ? 0 : v instanceof Date ? v.getTime() : new Date(v).getTime();

/** One scan in the database, no rows to map: ~2 ms for 10,000 hosts (Prisma's aggregate() took 3× longer). */
async function readStamp(): Promise<Stamp> {
  const [a] = await db().$queryRaw<
    { n: Num; newest: Date | string | number | null; c: Num; m: Num; d: Num }[]
  >(Prisma.sql`
    SELECT count(*) AS "n", max("updatedAt") AS "newest", sum("allocatedCpus") AS "c",
      sum("allocatedMemoryMb") AS "m", sum("allocatedDiskGb") AS "d"
    FROM "Host" WHERE "approval" = 'approved'`);
  return { count: num(a!.n), newest: ms(a!.newest), cpus: num(a!.c), memoryMb: num(a!.m), diskGb: num(a!.d) };
}

const sameCounts = (a: Stamp, b: Stamp) =>
  a.count === b.count && a.cpus === b.cpus && a.memoryMb === b.memoryMb && a.diskGb === b.diskGb;

/** Every approved host, straight from the database (the authority; ordered by name). */
export async function readHostSnapshots(): Promise<HostSnapshot[]> {
  const rows = await db().host.findMany({ where: APPROVED, orderBy: { name: "asc" }, select: HOST_SNAPSHOT_SELECT });
  return rows.map(hostSnapshotFromRow);
}

async function readAll(client: Db, stamp: Stamp): Promise<HostSnapshot[]> {
  const hosts = await readHostSnapshots();
  caches.set(client, { stamp, hosts, readAt: Date.now() });
  return hosts;
}

/** Replaces the rows updated since `since` (minus the margin) in a copy of the cached list. */
async function readChanged(client: Db, cached: Cached, stamp: Stamp): Promise<HostSnapshot[] | null> {
  const since = new Date(cached.stamp.newest - LATE_COMMIT_MARGIN_MS);
  const rows = await db().host.findMany({
    where: { ...APPROVED, updatedAt: { gte: since } },
    select: HOST_SNAPSHOT_SELECT,
  });
  const hosts = cached.hosts.slice();
  const at = new Map(hosts.map((h, i) => [h.id, i]));
  for (const row of rows) {
    const i = at.get(row.id);
    if (i === undefined) return null; // a host we never saw (renamed order, approval race): read all
    const next = hostSnapshotFromRow(row);
    if (next.name !== hosts[i]!.name) return null; // renamed: the order may change
    hosts[i] = next;
  }
  caches.set(client, { stamp, hosts, readAt: cached.readAt });
  return hosts;
}

/**
 * The fleet for a decision: the in-memory copy when the database's stamp says nothing changed,
 * otherwise refreshed (partly or fully). `fresh: true` skips the copy (after a lost claim).
 */
export async function fleetSnapshots({ fresh = false } = {}): Promise<HostSnapshot[]> {
  const client = db();
  const stamp = await readStamp();
  const cached = caches.get(client);
  if (fresh || !cached || Date.now() - cached.readAt > MAX_AGE_MS || !sameCounts(stamp, cached.stamp))
    return readAll(client, stamp);
  if (stamp.newest === cached.stamp.newest) return cached.hosts;
  return (await readChanged(client, cached, stamp)) ?? readAll(client, stamp);
}

/**
 * This process just committed a claim (positive) or release (negative) on `hostId`: apply it to
 * the copy and its stamp, only if `hosts` (the list the decision used) is still the current copy —
 * after a refresh in between we cannot tell whether the rows already include it; the next stamp will.
 */
export function noteOwnClaim(
  hosts: readonly HostSnapshot[],
  hostId: string,
  delta: { vcpus: number; memoryMb: number; diskGb: number },
): void {
  const client = db();
  const cached = caches.get(client);
  if (!cached || cached.hosts !== hosts) return;
  const i = cached.hosts.findIndex((h) => h.id === hostId);
  if (i < 0) return;
  cached.hosts[i] = applyClaim(cached.hosts[i]!, delta);
  cached.stamp = {
    ...cached.stamp,
    cpus: cached.stamp.cpus + delta.vcpus,
    memoryMb: cached.stamp.memoryMb + delta.memoryMb,
    diskGb: cached.stamp.diskGb + delta.diskGb,
  };
}
