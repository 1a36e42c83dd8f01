import "server-only";
// What a heartbeat reads: its host (found by the token's hash, or by id) and the VMs placed there,
// in one statement. On the driver, prepared once, on purpose: it runs for every heartbeat (100 a
// second at 1,000 agents); Prisma's findUnique with the VMs included cost ~0.65 ms of CPU here,
// the same query through $queryRaw ~0.23 ms (issue 16, ADR 043). The columns are the ones
// checkHostCredentials, recordHostFacts and the VM status rules read; SQLite gives 0/1 for booleans.
import type { HeartbeatHost, HostCredentialRow } from "../hosts";
import { rawDriver, sqliteStatement } from "../platform";
import { GroupCommit } from "./group-commit";

/**
 * PostgreSQL: heartbeats whose reads come within this long of each other share one query (the
 * first after a quiet spell goes at once, so a small fleet waits for nothing). Each statement sent
 * cost the controller ~0.2 ms in the socket write alone (loopback, profiled at 1,000 agents); at
 * 100 heartbeats a second a 75 ms group holds ~7. Measured: 11.5 % of a core → 10.6 % (25 ms
 * groups) → 7.7 % (75 ms), p50 latency 138 → 171 ms beside the 250 ms write batch (issue 16,
 * ADR 043). SQLite reads in-process and synchronously: no group.
 */
export const HEARTBEAT_READ_GROUP_MS = 75;

export type HeartbeatHostRow = HeartbeatHost & HostCredentialRow;
export type HeartbeatVmRow = {
  id: string;
  name: string;
  status: string;
  powerState: string;
  emulated: boolean;
  ha: boolean;
};

type Joined = HeartbeatHostRow & {
  vmId: string | null;
  vmName: string | null;
  vmStatus: string | null;
  vmPowerState: string | null;
  vmEmulated: boolean | number | null;
  vmHa: boolean | number | null;
};

const COLUMNS = `h."id", h."name", h."arch", h."agentUrl", h."approval", h."certFingerprint",
    v."id" AS "vmId", v."name" AS "vmName", v."status" AS "vmStatus", v."powerState" AS "vmPowerState",
    v."emulated" AS "vmEmulated", v."ha" AS "vmHa"`;
const FROM = `FROM "Host" h LEFT JOIN "Vm" v ON v."hostId" = h."id"`;
const SELECT = `SELECT ${COLUMNS} ${FROM}`;
const BY_TOKEN = `${SELECT} WHERE h."agentTokenHash" = `;
const BY_ID = `${SELECT} WHERE h."id" = `;
const BY_TOKEN_SQLITE = `${BY_TOKEN}?`;
const BY_ID_SQLITE = `${BY_ID}?`;
// The grouped read also returns each row's token hash: it splits the result between the callers.
const BY_TOKENS_PG = `SELECT h."agentTokenHash" AS "tokenHash", ${COLUMNS} ${FROM} WHERE h."agentTokenHash" = ANY($1::text[])`;

let tokenReads: GroupCommit<string, Joined[]> | null = null;

/** The joined rows of each token hash, in order, from one statement. */
async function readByTokens(tokenHashes: string[]): Promise<Joined[][]> {
  const driver = rawDriver();
  // Queued on PostgreSQL: a database switched meanwhile (only tests do) fails the batch plainly.
  if (driver.kind !== "postgresql") throw new Error("heartbeat reads queued for PostgreSQL found another database");
  const rows = await driver.query<Joined & { tokenHash: string }>("hb_rows_by_tokens", BY_TOKENS_PG, [
    [...new Set(tokenHashes)],
  ]);
  const byToken = new Map<string, Joined[]>();
  for (const row of rows) {
    const list = byToken.get(row.tokenHash);
    if (list) list.push(row);
    else byToken.set(row.tokenHash, [row]);
  }
  return tokenHashes.map((t) => byToken.get(t) ?? []);
}

/** The joined rows: at once on SQLite (synchronous driver), a promise on PostgreSQL. */
function joinedRows(by: { tokenHash: string } | { hostId: string }): Joined[] | Promise<Joined[]> {
  const driver = rawDriver();
  const byToken = "tokenHash" in by;
  const key = byToken ? by.tokenHash : by.hostId;
  if (driver.kind === "postgresql") {
    if (!byToken) return driver.query<Joined>("hb_rows_by_id", `${BY_ID}$1`, [key]);
    tokenReads ??= new GroupCommit({ write: readByTokens, everyMs: HEARTBEAT_READ_GROUP_MS, maxBatch: 500 });
    return tokenReads.add(key);
  }
  return sqliteStatement(driver.reader, byToken ? BY_TOKEN_SQLITE : BY_ID_SQLITE).all(key) as Joined[];
}

/** The host with this token hash (or id) and its VMs, or null when there is none. */
export function heartbeatRows(
  by: { tokenHash: string } | { hostId: string },
): Promise<{ host: HeartbeatHostRow; vms: HeartbeatVmRow[] } | null> {
  const rows = joinedRows(by);
  return Array.isArray(rows) ? Promise.resolve(fromRows(rows)) : rows.then(fromRows);
}

function fromRows(rows: Joined[]): { host: HeartbeatHostRow; vms: HeartbeatVmRow[] } | null {
  const first = rows[0];
  if (!first) return null;
  const host: HeartbeatHostRow = {
    id: first.id,
    name: first.name,
    arch: first.arch,
    agentUrl: first.agentUrl,
    approval: first.approval,
    certFingerprint: first.certFingerprint,
  };
  const vms = rows
    .filter((r) => r.vmId !== null)
    .map((r) => ({
      id: r.vmId!,
      name: r.vmName!,
      status: r.vmStatus!,
      powerState: r.vmPowerState!,
      emulated: Boolean(r.vmEmulated),
      ha: Boolean(r.vmHa),
    }));
  return { host, vms };
}

// The image cache a full report carries (every few minutes per agent) rarely differs from the
// HostImage rows: checked on the driver first, so syncHostImages (Prisma) runs only when it does.
type HostImageRow = { imageId: string; state: string; sizeBytes: number | bigint | string };
const IMAGES_SQL = `SELECT "imageId", "state", "sizeBytes" FROM "HostImage" WHERE "hostId" = `;
const IMAGES_SQLITE = `${IMAGES_SQL}?`;

function hostImageRows(hostId: string): HostImageRow[] | Promise<HostImageRow[]> {
  const driver = rawDriver();
  if (driver.kind === "postgresql") return driver.query<HostImageRow>("hb_host_images", `${IMAGES_SQL}$1`, [hostId]);
  return sqliteStatement(driver.reader, IMAGES_SQLITE).all(hostId) as HostImageRow[];
}

/**
 * Whether syncHostImages would write nothing for this report: every image reported has its row
 * with that state and size, and no row is left unreported (it would be deleted).
 */
export async function hostImagesUnchanged(
  hostId: string,
  reported: readonly { imageId: string; state: string; sizeBytes: number }[],
): Promise<boolean> {
  let rows: HostImageRow[];
  try {
    rows = await hostImageRows(hostId);
  } catch {
    return false; // syncHostImages then tries, and logs what fails (it never fails the heartbeat)
  }
  const stored = new Map(rows.map((r) => [r.imageId, r]));
  const seen = new Set<string>();
  for (const r of reported) {
    const row = stored.get(r.imageId);
    if (!row || row.state !== r.state || Number(row.sizeBytes) !== r.sizeBytes) return false;
    seen.add(r.imageId);
  }
  return seen.size === stored.size;
}
