import "server-only";
// The writes every heartbeat makes — its host online with a fresh lastHeartbeatAt, its metric
// samples — batched across heartbeats (issue 16: 1,000 agents every 10 s are 100 heartbeats a
// second). A heartbeat is answered only after the batch holding it is written, so an acknowledged
// heartbeat is always in the database (offline detection, the HA lease of ADR 036); the wait is
// at most HEARTBEAT_BATCH_MS, and nothing when heartbeats are rare.
import { markHostsOnline } from "../hosts";
import { insertMetricRows, pruneDueSeries, type MetricRow } from "../insights";
import { GroupCommit } from "./group-commit";

/** Least time between two batch writes: ≤ 10 UPDATEs + INSERTs a second, whatever the fleet size. */
export const HEARTBEAT_BATCH_MS = 100;

interface HeartbeatWrite {
  hostId: string;
  metrics: MetricRow[];
}

async function writeBatch(items: HeartbeatWrite[]): Promise<void> {
  // The host rows first: a failure here (database down) fails these heartbeats (503).
  await markHostsOnline([...new Set(items.map((i) => i.hostId))], new Date());
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
