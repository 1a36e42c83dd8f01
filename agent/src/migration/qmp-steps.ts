// The QMP commands of a live migration with non-shared storage (ADR 035), one function per step.
// Target: an NBD server exporting its blank disks writable, then migrate-incoming. Source: an NBD
// client node per export, blockdev-mirror (sync=full) onto it, `migrate`, and once the memory is
// across, block-job-cancel (a READY mirror cancelled = the copy is complete and consistent).
import net from "node:net";
import type { QmpClient } from "../qemu";

/** One disk of the VM as a block node, and its name in the target's NBD server. */
export interface DiskNode {
  /** "root" or the volume id */
  disk: string;
  /** QEMU node name: disk0 or vol<port> */
  node: string;
}

export interface BlockJobInfo {
  device: string;
  len: number;
  offset: number;
  ready?: boolean;
  status?: string;
}

export interface QueryMigrate {
  status?: string;
  "total-time"?: number;
  downtime?: number;
  "error-desc"?: string;
  ram?: { transferred: number; remaining: number; total: number };
}

/** A TCP port free on `host` right now (QEMU binds it a moment later; a clash fails the bind loudly). */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

/** tcp:<host>:<port>, with brackets around an IPv6 address. */
export function tcpUri(host: string, port: number): string {
  return `tcp:${host.includes(":") ? `[${host}]` : host}:${port}`;
}

export const mirrorJobId = (node: string): string => `mig-${node}`;
/** What stopping or querying a mirror needs: the source node it runs on. */
export type MirrorNode = Pick<DiskNode, "node">;
export const nbdClientNode = (node: string): string => `mig-nbd-${node}`;

// ---- target --------------------------------------------------------------------------------

export async function startNbdExports(q: QmpClient, host: string, port: number, disks: DiskNode[]): Promise<void> {
  await q.execute("nbd-server-start", { addr: { type: "inet", data: { host, port: String(port) } } });
  for (const d of disks) {
    // Writable: the source's mirror writes every block into the target's disk through it.
    await q.execute("block-export-add", {
      type: "nbd",
      id: `mig-${d.node}`,
      "node-name": d.node,
      name: d.disk,
      writable: true,
    });
  }
}

export async function stopNbdServer(q: QmpClient): Promise<void> {
  await q.execute("nbd-server-stop").catch(() => {}); // not running = nothing to stop
}

// ---- source --------------------------------------------------------------------------------

/** NBD client node per target export, then a full mirror onto it. */
export async function startMirrors(
  q: QmpClient,
  nbd: { host: string; port: number },
  disks: DiskNode[],
  speed: number,
): Promise<void> {
  for (const d of disks) {
    await q.blockdevAdd({
      driver: "nbd",
      "node-name": nbdClientNode(d.node),
      server: { type: "inet", host: nbd.host, port: String(nbd.port) },
      export: d.disk,
    });
    await q.execute("blockdev-mirror", {
      "job-id": mirrorJobId(d.node),
      device: d.node,
      target: nbdClientNode(d.node),
      sync: "full",
      ...(speed > 0 ? { speed } : {}),
    });
  }
}

export async function queryMirrors(q: QmpClient, disks: MirrorNode[]): Promise<BlockJobInfo[]> {
  const jobs = await q.execute<BlockJobInfo[]>("query-block-jobs");
  const ours = new Set(disks.map((d) => mirrorJobId(d.node)));
  return jobs.filter((j) => ours.has(j.device));
}

/** Mirrors a move left running (found by their job ids, after an agent restart forgot the move). */
export async function leftoverMirrors(q: QmpClient): Promise<MirrorNode[]> {
  const jobs = await q.execute<BlockJobInfo[]>("query-block-jobs").catch(() => []);
  const prefix = mirrorJobId("");
  return jobs.filter((j) => j.device.startsWith(prefix)).map((j) => ({ node: j.device.slice(prefix.length) }));
}

/**
 * Cancels the mirrors and waits until QEMU has dropped them, then removes the NBD client nodes.
 * `abandon` = a failed or cancelled move: do not wait for the final sync (force), the copy is dropped.
 */
export async function stopMirrors(
  q: QmpClient,
  disks: MirrorNode[],
  abandon: boolean,
  timeoutMs = 60_000,
): Promise<void> {
  for (const d of disks)
    await q.execute("block-job-cancel", { device: mirrorJobId(d.node), force: abandon }).catch(() => {});
  const deadline = Date.now() + timeoutMs;
  while ((await queryMirrors(q, disks).catch(() => [])).length > 0 && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 50));
  for (const d of disks) await q.blockdevDel(nbdClientNode(d.node)).catch(() => {});
}

export async function setMigrationParameters(q: QmpClient, downtimeLimitMs: number, bandwidth: number): Promise<void> {
  // 0 = unlimited in our API; QEMU's own default caps memory at 128 MiB/s.
  await q.execute("migrate-set-parameters", {
    "downtime-limit": downtimeLimitMs,
    "max-bandwidth": bandwidth > 0 ? bandwidth : 1e13,
  });
}

export async function queryMigrate(q: QmpClient): Promise<QueryMigrate> {
  return q.execute<QueryMigrate>("query-migrate");
}
