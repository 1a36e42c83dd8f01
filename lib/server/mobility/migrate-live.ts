import "server-only";
// A live move (ADR 035): the target prepares a paused incoming copy, the source mirrors its disks
// and sends its memory (progress as ndjson), the target resumes, the database follows, the source
// lets go. Until the target has resumed, any failure or a cancel puts everything back: the source
// cancels (its guest keeps running) and the target aborts (nothing left there).
import { agentClient } from "../hosts";
import { logError } from "../platform";
import { specFor } from "../vms";
import type { MigrationProgressEvent } from "../../schemas/agent-migration";
import type { MigrationTaskResult } from "../../schemas/migration";
import { checkCancel, cleanUpSource, commitMove, describeBytes, GIB, step, type MigrationRun } from "./run";

/** Overall percent per phase: disks are most of the bytes; the memory's last pass is short. */
function overall(e: MigrationProgressEvent): number {
  if (e.phase === "mirror") return 5 + e.percent * 0.55;
  if (e.phase === "memory") return 60 + e.percent * 0.35;
  return 96;
}

export async function runLive(run: MigrationRun, startedMs: number): Promise<MigrationTaskResult> {
  await step.start(run, "prepare target");
  const spec = { ...(await specFor(run.vmId)), generation: run.generation + 1, powerState: "running" as const };
  const disks = [
    { name: "root" as const, sizeBytes: spec.diskGb * GIB },
    ...run.volumes.map((v) => ({ name: v.id, sizeBytes: v.sizeGb * GIB })),
  ];
  const target = await agentClient.migrationIncoming(run.target, run.vmId, { spec, disks });
  checkCancel(run);
  await step.done(run, "prepare target", `listening on ${target.migrationUri}`);
  run.progress(5);

  await step.start(run, "copy disks");
  let phase: MigrationProgressEvent["phase"] = "mirror";
  let recorded: Promise<void> = Promise.resolve();
  const onProgress = (e: MigrationProgressEvent) => {
    run.progress(overall(e));
    if (e.phase !== "mirror" && phase === "mirror") {
      phase = e.phase;
      // Step changes are rare (once): chained so they land in order.
      recorded = recorded
        .then(() => step.done(run, "copy disks"))
        .then(() => step.start(run, "memory"))
        .catch((error) => logError("migration step not recorded", error, { taskId: run.taskId }));
    }
  };
  const sent = await agentClient.migrationOutgoing(
    run.source,
    run.vmId,
    { target, downtimeLimitMs: 300, bandwidth: 0 },
    onProgress,
  );
  await recorded;
  if (phase === "mirror") {
    await step.done(run, "copy disks");
    await step.start(run, "memory");
  }
  await step.done(run, "copy disks", `${describeBytes(sent.diskBytes)} mirrored`);
  const how = sent.memoryCopy === "paused" ? " (emulated guest: paused for the whole memory copy)" : "";
  await step.done(run, "memory", `${describeBytes(sent.ramBytes)} sent, guest paused ${sent.downtimeMs} ms${how}`);
  checkCancel(run);

  await step.start(run, "switch over");
  const status = await agentClient.migrationComplete(run.target, run.vmId);
  run.switched = true;
  // From here the target runs the guest: the move stands whatever happens to the source.
  await commitMove(run, { emulated: status.emulated, powerState: status.powerState });
  await step.done(run, "switch over", `running on ${run.target.name} (${status.emulated ? "TCG" : "KVM"})`);
  run.progress(98);

  await cleanUpSource(run);
  return {
    mode: "live",
    fromHostId: run.source.id,
    toHostId: run.target.id,
    totalMs: Date.now() - startedMs,
    downtimeMs: sent.downtimeMs,
    bytes: sent.ramBytes + sent.diskBytes,
  };
}

/** Puts everything back after a failure before the switch-over; best effort, idempotent on the agents. */
export async function undoLive(run: MigrationRun): Promise<void> {
  await agentClient
    .migrationCancel(run.source, run.vmId)
    .catch((error) => logError("migration cancel on the source failed", error, { vmId: run.vmId }));
  await agentClient
    .migrationAbort(run.target, run.vmId)
    .catch((error) => logError("migration abort on the target failed", error, { vmId: run.vmId }));
}
