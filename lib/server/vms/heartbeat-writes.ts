import "server-only";
// The writes every heartbeat makes — its host online with a fresh lastHeartbeatAt, its metric
// samples — batched across heartbeats (issue 16: 1,000 agents every 10 s are 100 heartbeats a
// second). A heartbeat is answered only after the batch holding it is written, so an acknowledged
// heartbeat is always in the database (offline detection, the HA lease of ADR 036); the wait is
// at most HEARTBEAT_BATCH_MS, and nothing when heartbeats are rare.
import { insertMetricRows, pruneDueSeries, type MetricRow } from "../insights";
import { driverTimestamp, rawDriver, sqliteStatement } from "../platform";
import { GroupCommit } from "./group-commit";

/**
 * Least time between two batch writes: ≤ 4 UPDATEs + INSERTs a second, whatever the fleet size. A
 * batch's cost is mostly per batch, not per heartbeat (SQLite rewrites the same index and table
 * pages in each commit): at 100 heartbeats a second, batches of 25 instead of 10 (100 ms) cost the
 * controller ~0.04 ms less CPU per heartbeat (issue 16). The wait, at most this long, is small
 * beside the heartbeat interval (5 s) and the HA lease (ADR 036: counted from the agent's send).
 */
export const HEARTBEAT_BATCH_MS = 250;

interface HeartbeatWrite {
  hostId: string;
  metrics: MetricRow[];
}

// The host rows (on the driver, with statements prepared once): online,
// a fresh lastHeartbeatAt; a revoked host stays as it is. One statement for any number of ids.
const MARK_ONLINE_PG = `UPDATE "Host" SET "status" = 'online', "lastHeartbeatAt" = $1, "updatedAt" = $1
  WHERE "id" = ANY($2::text[]) AND "revokedAt" IS NULL`;
const MARK_ONLINE_SQLITE = `UPDATE "Host" SET "status" = 'online', "lastHeartbeatAt" = ?, "updatedAt" = ?
  WHERE "id" IN (SELECT "value" FROM json_each(?)) AND "revokedAt" IS NULL`;

async function markOnline(hostIds: string[], at: Date): Promise<void> {
  const driver = rawDriver();
  const stamp = driverTimestamp(driver, at);
  if (driver.kind === "postgresql") {
    await driver.query("hb_mark_online", MARK_ONLINE_PG, [stamp, hostIds]);
    return;
  }
  await driver.write((db) => sqliteStatement(db, MARK_ONLINE_SQLITE).run(stamp, stamp, JSON.stringify(hostIds)));
}

async function writeBatch(items: HeartbeatWrite[]): Promise<void> {
  // The host rows first: a failure here (database down) fails these heartbeats (503).
  await markOnline([...new Set(items.map((i) => i.hostId))], new Date());
  // History next; it never throws (a failed insert is logged, the heartbeats still count).
  await insertMetricRows(items.flatMap((i) => i.metrics));
  // Old samples go after the answers (at most every few seconds; never throws).
  void pruneDueSeries();
}

let writes: GroupCommit<HeartbeatWrite> | null = null;

/** Resolves when this heartbeat's host row and samples are written (with others that came meanwhile). */
export function commitHeartbeat(hostId: string, metrics: MetricRow[]): Promise<void> {
  writes ??= new GroupCommit({ write: writeBatch, everyMs: HEARTBEAT_BATCH_MS, maxBatch: 500 });
  return writes.add({ hostId, metrics });
}
