import "server-only";
// HA restart (ADR 036, controller side): a VM flagged HA whose host went silent is started again
// on another host, but only once that host is FENCED. The agent arms its lease on each
// acknowledged heartbeat from the moment it SENT it; the controller counts from when it RECEIVED
// it (later) and adds a margin, so the agent's watchdog has killed the old copy before we start a
// new one. Local storage: the new copy boots from the VM's image with a fresh root disk; what the
// guest wrote on the dead host stays there (quarantined by the agent if that host returns).
import { AppError } from "../../errors";
import { schedule } from "../../scheduler/schedule";
import { agentClient, HEARTBEAT_INTERVAL_MS } from "../hosts";
import { db, env, logError, logInfo, recordAudit, type Caller, type Db } from "../platform";
import {
  claimHost,
  CREATE_STEPS,
  createTask,
  finishTask,
  getVm,
  hostSnapshots,
  provisionVm,
  releaseHost,
  requireVmAccess,
  setStep,
  specFor,
} from "../vms";

type Tx = Parameters<Parameters<Db["$transaction"]>[0]>[0];

/** Steps of a vm.ha-restart task: the fencing verdict, then the create steps on the new host. */
export const HA_RESTART_STEPS = ["fenced", ...CREATE_STEPS] as const;

/** Statuses owned by a task in flight: HA and reconciliation leave those VMs alone. */
export const TRANSITIONAL_STATUSES = ["pending", "scheduling", "creating", "deleting"];

/** Heard from within this many ms: a host that may take a VM (and counts as back, for reconciliation). */
export const freshHeartbeatMs = () => env().POLYARCH_HEARTBEAT_TIMEOUT_MS;

/** The lease and the controller's margin on top of it; null when HA fencing is off. */
export function haTiming(): { leaseMs: number; marginMs: number } | null {
  const leaseMs = env().POLYARCH_HA_LEASE_MS;
  return leaseMs > 0 ? { leaseMs, marginMs: HEARTBEAT_INTERVAL_MS + 2_000 } : null;
}

// A controller that was itself down cannot tell a dead host from its own absence: it acts only
// after watching a full lease pass (every agent had the chance to heartbeat it in that time).
const PROCESS_STARTED_MS = Date.now();

type HaCandidate = Awaited<ReturnType<typeof loadCandidates>>[number];

function loadCandidates(cutoff: Date) {
  return db().vm.findMany({
    where: {
      ha: true,
      desiredState: "running",
      migratingToHostId: null,
      status: { notIn: TRANSITIONAL_STATUSES },
      host: { lastHeartbeatAt: { lt: cutoff } },
    },
    include: { host: true, _count: { select: { snapshots: true } } },
    orderBy: { createdAt: "asc" },
  });
}

export type HaSweepResult = { restarted: string[]; failed: string[]; skipped: string[] };

/**
 * The periodic "ha-restart" job. `upSinceMs` (tests) replaces this process's start time;
 * `wait: false` returns before the new hosts have run the VMs; `provision: false` (tests) moves
 * the rows and records the task without calling the new host's agent.
 */
export async function restartFencedHaVms(
  opts: { nowMs?: number; upSinceMs?: number; wait?: boolean; provision?: boolean } = {},
): Promise<HaSweepResult> {
  const result: HaSweepResult = { restarted: [], failed: [], skipped: [] };
  const timing = haTiming();
  if (!timing) return result;
  const nowMs = opts.nowMs ?? Date.now();
  if (nowMs - (opts.upSinceMs ?? PROCESS_STARTED_MS) < timing.leaseMs + timing.marginMs) return result;
  const cutoff = new Date(nowMs - timing.leaseMs - timing.marginMs);
  const vms = await loadCandidates(cutoff);
  if (vms.length === 0) return result;
  const busy = new Set(
    (
      await db().task.findMany({
        where: { status: "running", vmId: { in: vms.map((v) => v.id) } },
        select: { vmId: true },
      })
    ).map((t) => t.vmId),
  );
  const provisions: Promise<void>[] = [];
  for (const vm of vms) {
    if (busy.has(vm.id)) {
      result.skipped.push(vm.id);
      continue;
    }
    try {
      const outcome = await restartOne(vm, nowMs, timing.leaseMs, opts.provision !== false);
      if (outcome.kind === "restarted") {
        result.restarted.push(vm.id);
        provisions.push(outcome.provision);
      } else if (outcome.kind === "failed") result.failed.push(vm.id);
      else result.skipped.push(vm.id);
    } catch (error) {
      logError("HA restart failed", error, { vmId: vm.id });
      result.skipped.push(vm.id);
    }
  }
  if (opts.wait !== false) await Promise.all(provisions);
  return result;
}

type Outcome = { kind: "restarted"; provision: Promise<void> } | { kind: "failed" } | { kind: "skipped" };

function fenceMessage(hostName: string, lastBeat: Date, leaseMs: number): string {
  const expired = new Date(lastBeat.getTime() + leaseMs);
  return `host ${hostName} silent since ${lastBeat.toISOString()}; lease expired at ${expired.toISOString()}`;
}

async function restartOne(vm: HaCandidate, nowMs: number, leaseMs: number, provision: boolean): Promise<Outcome> {
  const dead = vm.host!;
  const lastBeat = dead.lastHeartbeatAt!;
  const fenced = fenceMessage(dead.name, lastBeat, leaseMs);
  const req = {
    arch: vm.arch as "x86_64" | "aarch64",
    vcpus: vm.vcpus,
    memoryMb: vm.memoryMb,
    diskGb: vm.diskGb,
    allowEmulation: vm.allowEmulation,
  };
  const placed = vm.imageId
    ? await placeElsewhere(vm, req, nowMs, fenced)
    : { ok: false as const, reason: "Its image was deleted: there is nothing to restart it from." };
  if (placed.ok === "lost") return { kind: "skipped" };
  if (!placed.ok)
    return (await recordNoHost(vm, lastBeat, fenced, placed.reason)) ? { kind: "failed" } : { kind: "skipped" };
  const { taskId, hostName, dropped } = placed;
  const lost = dropped ? `; its ${dropped} snapshot(s) were on that host's disk and are gone with it` : "";
  await setStep(taskId, "fenced", "succeeded", fenced);
  await setStep(
    taskId,
    "scheduled",
    "succeeded",
    `placed on ${hostName}${placed.emulated ? " (emulated)" : ""}; restarted from its image with a fresh disk: ` +
      `what the guest wrote on ${dead.name} is not carried (local storage)${lost}`,
  );
  await recordAudit({
    actor: null,
    action: "vm.ha-restart",
    result: "success",
    targetType: "vm",
    targetId: vm.id,
    details: { from: dead.name, to: hostName, generation: vm.generation + 1, reason: fenced },
  });
  logInfo("HA restart", { vmId: vm.id, from: dead.name, to: hostName });
  return { kind: "restarted", provision: provision ? provisionVm(vm.id, taskId) : Promise.resolve() };
}

type Placement =
  | { ok: true; taskId: string; hostName: string; emulated: boolean; dropped: number }
  | { ok: false; reason: string }
  | { ok: "lost" };

/**
 * Schedules among the other hosts heard from recently and moves the VM there in one transaction:
 * claim the new host, bump the generation, release the dead host's claim (and its snapshots',
 * which lived on its disk), record the task. Conditional on the dead host still being silent
 * exactly as read (a late heartbeat wins) and the VM still being where it was.
 */
async function placeElsewhere(
  vm: HaCandidate,
  req: { arch: "x86_64" | "aarch64"; vcpus: number; memoryMb: number; diskGb: number; allowEmulation: boolean },
  nowMs: number,
  fenced: string,
): Promise<Placement> {
  const dead = vm.host!;
  const fresh = new Set(
    (
      await db().host.findMany({
        where: { status: "online", lastHeartbeatAt: { gte: new Date(nowMs - freshHeartbeatMs()) } },
        select: { id: true },
      })
    ).map((h) => h.id),
  );
  for (let attempt = 0; attempt < 5; attempt++) {
    const hosts = (await hostSnapshots()).filter((h) => h.id !== dead.id && fresh.has(h.id));
    const decision = schedule(hosts, req);
    if (!decision.ok) {
      const why = decision.rejected.map((r) => `${r.host.name}: ${r.reasons.join(", ")}`);
      return {
        ok: false,
        reason: `No host can take it (retried while the host stays down): ${[decision.reason, ...why].join("; ")}`,
      };
    }
    const host = decision.host;
    const outcome = await db().$transaction(async (tx: Tx) => {
      if (!(await claimHost(tx, host.id, req))) return "full" as const;
      const still = await tx.host.updateMany({
        where: { id: dead.id, lastHeartbeatAt: dead.lastHeartbeatAt },
        data: { lastHeartbeatAt: dead.lastHeartbeatAt },
      });
      const moved =
        still.count === 1
          ? await tx.vm.updateMany({
              where: { id: vm.id, hostId: dead.id, generation: vm.generation, ha: true, migratingToHostId: null },
              data: {
                hostId: host.id,
                generation: { increment: 1 },
                status: "creating",
                powerState: "unknown",
                emulated: decision.emulated,
                lastError: null,
              },
            })
          : { count: 0 };
      if (moved.count !== 1) {
        await releaseHost(host.id, req, tx); // net zero, then commit (see vms/operate.ts retryCreate)
        return "lost" as const;
      }
      const snaps = await tx.snapshot.aggregate({ where: { vmId: vm.id }, _sum: { claimedDiskGb: true } });
      await releaseHost(dead.id, { ...req, diskGb: req.diskGb + (snaps._sum.claimedDiskGb ?? 0) }, tx);
      await tx.snapshot.deleteMany({ where: { vmId: vm.id } });
      const task = await createTask(
        { kind: "vm.ha-restart", vmId: vm.id, hostId: host.id, userId: null, steps: HA_RESTART_STEPS },
        tx,
      );
      return task.id;
    });
    if (outcome === "lost") return { ok: "lost" };
    if (outcome !== "full")
      return {
        ok: true,
        taskId: outcome,
        hostName: host.name,
        emulated: decision.emulated,
        dropped: vm._count.snapshots,
      };
  }
  return { ok: false, reason: `The fleet's capacity kept changing while placing it (${fenced}).` };
}

/**
 * It cannot be restarted (no host can take it, no image): one failed task per VM per outage (an
 * outage = the dead host's last heartbeat), so the job retries every run without filling the event
 * log. True when recorded.
 */
async function recordNoHost(vm: HaCandidate, lastBeat: Date, fenced: string, message: string): Promise<boolean> {
  const already = await db().task.count({
    where: { vmId: vm.id, kind: "vm.ha-restart", status: "failed", createdAt: { gt: lastBeat } },
  });
  if (already > 0) return false;
  const task = await createTask({
    kind: "vm.ha-restart",
    vmId: vm.id,
    hostId: vm.hostId,
    userId: null,
    steps: HA_RESTART_STEPS,
  });
  await setStep(task.id, "fenced", "succeeded", fenced);
  await setStep(task.id, "scheduled", "failed", message);
  await finishTask(task.id, false, message);
  await recordAudit({
    actor: null,
    action: "vm.ha-restart",
    result: "error",
    targetType: "vm",
    targetId: vm.id,
    details: { from: vm.host?.name, reason: message },
  });
  return true;
}

/** Why a VM cannot be HA: attached volumes live on one host's disk (the restart boots from the image elsewhere). */
async function haRefusal(vm: { name: string; id: string; status: string; migratingToHostId: string | null }) {
  const volumes = await db().volume.count({ where: { vmId: vm.id } });
  if (volumes > 0)
    return (
      `${vm.name} has ${volumes} attached volume(s): a volume lives on one host's disk, and an HA restart boots the ` +
      "VM from its image on another host, where the volume is not. Detach them first."
    );
  if (vm.migratingToHostId) return `${vm.name} is migrating; change HA when the migration has ended.`;
  return null;
}

/**
 * PATCH /api/v1/vms/:id {ha}. The agent must know before HA counts: its watchdog fences only VMs
 * whose spec says `fence`, so the spec is re-sent and the flag is put back if the host refuses.
 */
export async function setVmHa(vmId: string, input: { ha?: boolean }, who: Caller) {
  await requireVmAccess(who.actor, vmId, "vm:operate", { action: "vm.update", clientIp: who.clientIp });
  const vm = await db().vm.findUniqueOrThrow({ where: { id: vmId }, include: { host: true } });
  if (input.ha === undefined || input.ha === vm.ha) return getVm(vmId);
  const refusal = input.ha ? await haRefusal(vm) : null;
  const placedOn = vm.hostId ? vm.host : null;
  const state =
    placedOn && !["running", "stopped"].includes(vm.status)
      ? `HA changes on a running or stopped VM; ${vm.name} is ${vm.status}.`
      : null;
  const why = refusal ?? state;
  if (why) {
    await recordAudit({
      actor: who.actor,
      action: "vm.update",
      result: "error",
      targetType: "vm",
      targetId: vmId,
      clientIp: who.clientIp,
      details: { ha: input.ha, reason: why },
    });
    throw new AppError({ code: "conflict", message: why });
  }
  const flipped = await db().vm.updateMany({ where: { id: vmId, ha: vm.ha }, data: { ha: input.ha } });
  if (flipped.count !== 1) throw new AppError({ code: "conflict", message: "HA was changed meanwhile; reload." });
  try {
    if (placedOn) await agentClient.putVm(placedOn, vmId, await specFor(vmId));
  } catch (error) {
    await db().vm.updateMany({ where: { id: vmId, ha: input.ha }, data: { ha: vm.ha } });
    const message = error instanceof AppError ? error.message : "The host did not take the change.";
    await recordAudit({
      actor: who.actor,
      action: "vm.update",
      result: "error",
      targetType: "vm",
      targetId: vmId,
      clientIp: who.clientIp,
      details: { ha: input.ha, reason: message },
    });
    throw error;
  }
  await recordAudit({
    actor: who.actor,
    action: "vm.update",
    result: "success",
    targetType: "vm",
    targetId: vmId,
    clientIp: who.clientIp,
    details: { ha: input.ha },
  });
  return getVm(vmId);
}
