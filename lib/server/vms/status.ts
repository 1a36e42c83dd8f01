import "server-only";
// What agents say about VMs: each heartbeat updates the host, then the status of every VM placed
// on it, the host's image caches and the metrics. This is the one place that composes them.
import type { z } from "zod";
import type { HeartbeatResponse, heartbeatRequestSchema, VmStatus } from "../../schemas/agent-api";
import { AppError } from "../../errors";
import { db, env } from "../platform";
import { HEARTBEAT_INTERVAL_MS, recordHostFacts } from "../hosts";
import { syncHostImages } from "../images";
import { heartbeatMetricRows } from "../insights";
import { exitUpdate, recordCrash } from "./exits";
import { heartbeatRows, hostImagesUnchanged, type HeartbeatHostRow, type HeartbeatVmRow } from "./heartbeat-rows";
import { commitHeartbeat } from "./heartbeat-writes";

/** Maps an agent's view of a VM to the controller's status vocabulary. */
export function vmStatusFromAgent(power: VmStatus["powerState"]): string {
  switch (power) {
    case "running":
    case "paused":
      return "running";
    case "shutoff":
      return "stopped";
    case "starting":
    case "stopping":
      return "creating";
    case "error":
      return "error";
    default:
      return "unknown";
  }
}

/** A VM deleted on the controller: any copy an agent still reports is older than this generation. */
export const TOMBSTONE_GENERATION = 1_000_000_000;

/**
 * The copies this agent must kill (ADR 036): VMs the controller has moved to another host at a
 * newer generation (migration, HA restart) or placed nowhere after a failed create (failProvisioning
 * bumps the generation), and VMs whose deletion the audit log records. A
 * target host's incoming copy (migratingToHostId) is not stale; a VM the controller does not know
 * without a successful vm.delete entry is never evicted (the controller's database may be older
 * than the agent's VMs, e.g. restored from a backup). Only successful deletions count: a denied
 * DELETE of an arbitrary id is audited too, and must not kill anything.
 */
export async function evictionsFor(
  hostId: string,
  reported: readonly Pick<VmStatus, "id" | "generation">[],
): Promise<{ id: string; generation: number }[]> {
  if (reported.length === 0) return [];
  const ids = reported.map((v) => v.id);
  const rows = await db().vm.findMany({
    where: { id: { in: ids } },
    select: { id: true, hostId: true, migratingToHostId: true, generation: true },
  });
  const known = new Map(rows.map((r) => [r.id, r]));
  const evict: { id: string; generation: number }[] = [];
  for (const v of reported) {
    const row = known.get(v.id);
    if (row && row.hostId !== hostId && row.migratingToHostId !== hostId && row.generation > (v.generation ?? 1))
      evict.push({ id: v.id, generation: row.generation });
  }
  const unknown = ids.filter((id) => !known.has(id));
  if (unknown.length) {
    const tombstones = await db().auditEvent.findMany({
      where: { action: "vm.delete", result: "success", targetType: "vm", targetId: { in: unknown } },
      select: { targetId: true },
      distinct: ["targetId"],
    });
    for (const t of tombstones) evict.push({ id: t.targetId!, generation: TOMBSTONE_GENERATION });
  }
  return evict;
}

type HeartbeatInput = z.output<typeof heartbeatRequestSchema>;

/**
 * Per host, the VMs placed on it that its last heartbeat (to this controller process) did not
 * report. An agent gathers its report before sending it: a VM committed to the host in between (a
 * cold move commits once the target has defined the VM, and the target's report may have been
 * gathered just before) is missing from one report and present in the next. So a VM turns unknown
 * only when two reports in a row leave it out (one heartbeat interval later than a single miss).
 */
const missingLastTime = new Map<string, Set<string>>();

/** A heartbeat of the host with this id (tests, tools): its rows read, then applyHeartbeat. */
export async function recordHeartbeat(hostId: string, input: HeartbeatInput): Promise<HeartbeatResponse> {
  const rows = await heartbeatRows({ hostId });
  if (!rows) throw new AppError({ code: "not_found", message: `Host ${hostId} does not exist.` });
  return applyHeartbeat(rows.host, rows.vms, input);
}

/**
 * One heartbeat of an authenticated host, given its row and the VMs placed on it as read just
 * before (heartbeat-rows.ts): facts and address when sent, the VMs' status, image caches, metrics,
 * then the host online (batched with other heartbeats: heartbeat-writes.ts) before the answer.
 */
export async function applyHeartbeat(
  host: HeartbeatHostRow,
  vms: readonly HeartbeatVmRow[],
  input: HeartbeatInput,
): Promise<HeartbeatResponse> {
  const receivedAt = new Date();
  const hostId = host.id;
  // Facts, address and image cache come in full reports only (every few minutes): the steady
  // heartbeat skips those calls (not just their work: each await costs here, 100 a second).
  if (input.facts || input.agentUrl) await recordHostFacts(host, input);
  // Report only what the agent knows about VMs placed on this host; transitional controller
  // states (creating/deleting) are left to the task that owns them. Rows are written only when
  // the status or power state changed.
  // Every write is conditional on the host and status read above: a VM that moved meanwhile (a
  // migration or evacuation committed between that read and this write) is the new host's to
  // report; the old host's missing or shut-off copy must not turn it unknown or stopped.
  const reported = new Map(input.vms.map((v) => [v.id, v]));
  const missedBefore = missingLastTime.get(hostId);
  const missedNow = new Set<string>();
  for (const vm of vms) {
    const r = reported.get(vm.id);
    if (!r) {
      if (vm.status !== "running" && vm.status !== "stopped") continue;
      if (!missedBefore?.has(vm.id)) missedNow.add(vm.id);
      else
        await db().vm.updateMany({
          where: { id: vm.id, hostId, status: vm.status },
          data: { status: "unknown", powerState: "unknown" },
        });
      continue;
    }
    if (vm.status === "deleting" || vm.status === "scheduling" || vm.status === "pending") continue;
    // A QEMU starting or stopping is between two states the operation that caused it will record:
    // the heartbeat only notes the power state then (it used to turn a running VM "creating").
    const transitional = r.powerState === "starting" || r.powerState === "stopping";
    const status = transitional ? vm.status : vmStatusFromAgent(r.powerState);
    if (vm.status === "creating" && status !== "running") continue;
    if (status !== vm.status || r.powerState !== vm.powerState) {
      // A running VM found shut off with a reason (QEMU died, the guest powered off: exits.ts).
      const exit = vm.status === "running" && status === "stopped" ? r.lastExit : undefined;
      // A task that changed the status meanwhile (the heartbeat was sampled before) wins over this older news.
      const { count } = await db().vm.updateMany({
        where: { id: vm.id, hostId, status: vm.status },
        data: {
          status,
          powerState: r.powerState,
          ...(r.error ? { lastError: r.error } : {}),
          ...(exit ? exitUpdate(exit, vm.ha) : {}),
        },
      });
      if (count === 1 && exit) await recordCrash(vm, hostId, exit);
    }
  }
  if (missedNow.size > 0) missingLastTime.set(hostId, missedNow);
  else missingLastTime.delete(hostId);
  if (input.images && !(await hostImagesUnchanged(hostId, input.images))) await syncHostImages(hostId, input.images);
  const samples = input.metrics
    ? await heartbeatMetricRows(
        hostId,
        input.metrics,
        vms.map((v) => v.id),
        receivedAt,
      )
    : [];
  // A VM placed on this host (read above) is never stale here: only the others need a look-up.
  const placedHere = new Set(vms.map((v) => v.id));
  const elsewhere = input.vms.filter((v) => !placedHere.has(v.id));
  const evict = elsewhere.length ? await evictionsFor(hostId, elsewhere) : [];
  await commitHeartbeat(hostId, samples);
  const leaseMs = env().POLYARCH_HA_LEASE_MS;
  return {
    ok: true as const,
    heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
    ...(leaseMs > 0 ? { fenceAfterMs: leaseMs } : {}),
    ...(evict.length ? { evict } : {}),
  };
}
