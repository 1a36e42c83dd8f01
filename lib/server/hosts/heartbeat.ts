import "server-only";
// Host liveness: heartbeats mark a host online with its latest facts; silence marks it offline.
import type { z } from "zod";
import type { heartbeatRequestSchema } from "../../schemas/agent-api";
import { AppError } from "../../errors";
import { db, env, rawDriver, recordAudit, sqliteStatement } from "../platform";

export const HEARTBEAT_INTERVAL_MS = 5_000;

/** What a heartbeat needs of its host row besides the credential checks (token.ts). */
export type HeartbeatHost = { id: string; arch: string; agentUrl: string | null };

/**
 * The host's facts and address, when the heartbeat carries them (the agent sends facts when they
 * changed, and all of them every few minutes; absent = unchanged). Liveness (online, lastHeartbeatAt) is written by lib/server/vms/heartbeat-writes.ts.
 */
export async function recordHostFacts(
  host: HeartbeatHost,
  input: z.output<typeof heartbeatRequestSchema>,
): Promise<void> {
  const f = input.facts;
  if (!input.agentUrl && !f) return;
  if (input.agentUrl) checkHeartbeatUrl(host.agentUrl, input.agentUrl);
  if (f && f.arch !== host.arch)
    throw new AppError({
      code: "conflict",
      message: `This host joined as ${host.arch}; a heartbeat cannot change it to ${f.arch}. Revoke the host and join again.`,
    });
  const data = {
    ...(input.agentUrl ? { agentUrl: input.agentUrl } : {}),
    ...(f
      ? {
          facts: JSON.stringify(f),
          kvm: f.kvm,
          nativeArches: JSON.stringify(f.nativeArches),
          emulatedArches: JSON.stringify(f.emulatedArches),
          qemuVersion: f.qemu.version,
        }
      : {}),
  };
  // The agent repeats its facts every few minutes though they rarely change: a read on the driver
  // (~0.02 ms) instead of an UPDATE through Prisma (~0.5 ms) when they are what is stored (issue 16).
  if (sameAsStored(await storedFacts(host.id), data)) return;
  await db().host.update({ where: { id: host.id }, data });
}

type StoredFacts = {
  agentUrl: string | null;
  facts: string | null;
  kvm: boolean | number;
  nativeArches: string;
  emulatedArches: string;
  qemuVersion: string | null;
};
const FACTS_SQL = `SELECT "agentUrl", "facts", "kvm", "nativeArches", "emulatedArches", "qemuVersion" FROM "Host" WHERE "id" = `;
const FACTS_SQLITE = `${FACTS_SQL}?`;

/** The host's stored facts columns (SQLite gives 0/1 for kvm), or undefined when the row is gone. */
async function storedFacts(hostId: string): Promise<StoredFacts | undefined> {
  const driver = rawDriver();
  if (driver.kind === "postgresql")
    return (await driver.query<StoredFacts>("hb_host_facts", `${FACTS_SQL}$1`, [hostId]))[0];
  return sqliteStatement(driver.reader, FACTS_SQLITE).get(hostId) as StoredFacts | undefined;
}

/** Every column the update would write already holds that value (then the update changes nothing). */
function sameAsStored(
  row: StoredFacts | undefined,
  data: Partial<Omit<StoredFacts, "kvm"> & { kvm: boolean }>,
): boolean {
  if (!row) return false;
  for (const [k, v] of Object.entries(data) as [keyof StoredFacts, unknown][]) {
    const stored = k === "kvm" ? Boolean(row.kvm) : row[k];
    if (stored !== v) return false;
  }
  return true;
}

/** A heartbeat may move the agent (new address or port), never to another scheme, never to http with TLS on (ADR 025). */
function checkHeartbeatUrl(current: string | null, next: string): void {
  const to = new URL(next).protocol;
  if (env().POLYARCH_AGENT_TLS_PORT > 0 && to !== "https:")
    throw new AppError({ code: "invalid", message: "agentUrl must stay https:// (the agent TLS port is on)." });
  if (current && new URL(current).protocol !== to)
    throw new AppError({
      code: "invalid",
      message: `A heartbeat cannot switch the agent URL from ${new URL(current).protocol}// to ${to}//; register the agent again.`,
    });
}

/**
 * Hosts silent for longer than the timeout go offline; their VMs become unknown, never deleted. A
 * VM being created keeps "creating": its create task decides (its agent call is given up once the
 * host is offline, agent-client.ts offlineWatch), and failProvisioning only fails a VM still creating.
 */
export async function markStaleHostsOffline(now = new Date()): Promise<number> {
  const cutoff = new Date(now.getTime() - env().POLYARCH_HEARTBEAT_TIMEOUT_MS);
  const stale = await db().host.findMany({
    where: { status: "online", OR: [{ lastHeartbeatAt: null }, { lastHeartbeatAt: { lt: cutoff } }] },
    select: { id: true, name: true },
  });
  for (const h of stale) {
    await db().$transaction([
      db().host.update({ where: { id: h.id }, data: { status: "offline" } }),
      db().vm.updateMany({
        where: { hostId: h.id, status: { in: ["running", "stopped"] } },
        data: { status: "unknown", powerState: "unknown" },
      }),
    ]);
    await recordAudit({
      actor: null,
      action: "host.offline",
      result: "success",
      targetType: "host",
      targetId: h.id,
      details: { name: h.name, reason: "missed heartbeats" },
    });
  }
  return stale.length;
}
