import "server-only";
// Evacuation (issue 14): empty a host in maintenance, one VM at a time (two TCG migrations at once
// would halve each one's speed and double the risk). Running VMs move live, stopped ones cold; the
// scheduler picks each target. Every VM is a step of the host.evacuate task whose message is the
// outcome or the reason it stays (the migration preview's words); the task succeeds only when
// the host has no VM left.
import { AppError } from "../../errors";
import type { MigrateRequest, MigrationPreview } from "../../schemas/migration";
import { db, logError, type Actor } from "../platform";
import { finishTask, setStep } from "../vms";
import { migrationPreview, startMigration } from "./migrate";

/** What evacuation needs from the migration orchestrator (./migrate.ts); tests of this module pass their own. */
export type Mover = {
  preview(vmId: string): Promise<MigrationPreview>;
  start(
    vmId: string,
    req: MigrateRequest,
    ctx: { actor: Actor | null; clientIp?: string | null; skipAccess?: boolean },
  ): Promise<{ taskId: string; done: Promise<{ ok: boolean; error?: string }> }>;
};

const orchestrator: Mover = { preview: (vmId) => migrationPreview(vmId, null), start: startMigration };

export type EvacuationPlan = { taskId: string; hostId: string; vms: { id: string; name: string }[] };

/** Why no host can take it, from the preview: each other host with its reasons. */
function noHostReason(preview: MigrationPreview): string {
  const others = preview.hosts.filter((h) => !h.current);
  if (others.length === 0) return "no other host in the fleet";
  return `no host can take it: ${others.map((h) => `${h.name}: ${h.reasons.join(", ") || "not eligible"}`).join("; ")}`;
}

/** Moves one VM off the host; the step's outcome and message. */
async function moveOne(
  vmId: string,
  hostId: string,
  who: { actor: Actor | null; clientIp: string | null },
  mover: Mover,
): Promise<{ ok: boolean; message: string }> {
  const vm = await db().vm.findUnique({ where: { id: vmId }, select: { hostId: true, status: true } });
  if (!vm) return { ok: true, message: "deleted meanwhile; nothing to move" };
  if (vm.hostId !== hostId) return { ok: true, message: "already on another host" };
  const preview = await mover.preview(vmId);
  if (preview.blocked) return { ok: false, message: preview.blocked };
  if (!preview.hosts.some((h) => h.ok)) return { ok: false, message: noHostReason(preview) };
  const live = preview.migrationMode === "live";
  try {
    const started = await mover.start(vmId, { live }, { actor: who.actor, clientIp: who.clientIp, skipAccess: true });
    const done = await started.done;
    if (!done.ok) return { ok: false, message: done.error ?? "the migration failed" };
  } catch (error) {
    if (!(error instanceof AppError)) logError("evacuation: migration did not start", error, { vmId });
    return { ok: false, message: error instanceof AppError ? error.message : "the migration did not start" };
  }
  const after = await db().vm.findUnique({ where: { id: vmId }, select: { host: { select: { name: true } } } });
  return { ok: true, message: `moved ${live ? "live" : "cold"} to ${after?.host?.name ?? "another host"}` };
}

/** Runs the evacuation recorded by enterMaintenance (after the response). Never throws. */
export async function runEvacuation(
  plan: EvacuationPlan,
  who: { actor: Actor | null; clientIp: string | null },
  mover: Mover = orchestrator,
): Promise<{ ok: boolean; stayed: string[] }> {
  const { taskId, hostId, vms } = plan;
  try {
    for (const [position, vm] of vms.entries()) {
      const host = await db().host.findUnique({ where: { id: hostId }, select: { adminState: true } });
      if (host?.adminState !== "maintenance") {
        await db().taskStep.updateMany({
          where: { taskId, status: "pending" },
          data: { status: "skipped", message: "maintenance ended before it was moved" },
        });
        break;
      }
      await setStep(taskId, position, "running");
      const outcome = await moveOne(vm.id, hostId, who, mover);
      await setStep(taskId, position, outcome.ok ? "succeeded" : "failed", outcome.message);
      await db().task.update({
        where: { id: taskId },
        data: { progress: Math.round(((position + 1) / vms.length) * 100) },
      });
    }
    const left = await db().vm.findMany({ where: { hostId }, select: { name: true }, orderBy: { name: "asc" } });
    const stayed = left.map((v) => v.name);
    await db().task.update({
      where: { id: taskId },
      data: { result: JSON.stringify({ moved: vms.length - stayed.length, stayed }) },
    });
    if (stayed.length === 0) await finishTask(taskId, true);
    else await finishTask(taskId, false, `${stayed.length} VM(s) stayed on the host: ${stayed.join(", ")}`);
    return { ok: stayed.length === 0, stayed };
  } catch (error) {
    logError("evacuation failed", error, { hostId, taskId });
    await finishTask(taskId, false, "The evacuation stopped on a controller error; see the controller log.").catch(
      () => undefined,
    );
    return { ok: false, stayed: vms.map((v) => v.name) };
  }
}
