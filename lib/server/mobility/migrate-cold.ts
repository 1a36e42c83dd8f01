import "server-only";
// A cold move (ADR 035) of a stopped VM: every disk streams source → controller → target (the
// target verifies length and SHA-256), the target adopts them with the VM's spec (stopped), the
// database follows, the source lets go. A failure before the database changed removes whatever
// the target received; the VM stays where it was.
import { agentClient } from "../hosts";
import { logError } from "../platform";
import { specFor } from "../vms";
import { cpuModelAfterMove, effectiveMode, migrationFactsFromRow } from "../../scheduler/migration";
import { hostSnapshotFromRow } from "../../scheduler/snapshot";
import type { Host } from "../../generated/sqlite/client";
import type { Arch } from "../../arch";
import type { MigrationTaskResult } from "../../schemas/migration";
import { copyDisk } from "./disk-copy";
import { checkCancel, cleanUpSource, commitMove, describeBytes, step, type MigrationRun } from "./run";

export async function runCold(
  run: MigrationRun,
  startedMs: number,
  vm: { arch: Arch; emulated: boolean; cpuModel: string | null },
  targetRow: Host,
  sourceRow: Host,
): Promise<MigrationTaskResult> {
  const disks = [
    { name: "root" as const, gb: (await specFor(run.vmId)).diskGb },
    ...run.volumes.map((v) => ({ name: v.id, gb: v.sizeGb })),
  ];
  const totalGb = disks.reduce((s, d) => s + d.gb, 0) || 1;
  await step.start(run, "copy disks");
  let doneGb = 0;
  let bytes = 0;
  const sums: string[] = [];
  for (const d of disks) {
    checkCancel(run);
    const got = await copyDisk(run.source.id, run.target.id, run.vmId, d.name, run.signal);
    bytes += got.sizeBytes;
    sums.push(`${d.name} ${got.sha256.slice(0, 12)}…`);
    doneGb += d.gb;
    run.progress(5 + (doneGb / totalGb) * 75);
  }
  await step.done(run, "copy disks", `${disks.length} disk${disks.length === 1 ? "" : "s"}, ${describeBytes(bytes)}`);
  await step.done(run, "verify", `SHA-256 equal on both hosts: ${sums.join(", ")}`);
  checkCancel(run);

  await step.start(run, "define on target");
  // A move to another accelerator keeps the CPU model only where it runs (ADR 037).
  const accel = (row: Host) =>
    effectiveMode({ host: hostSnapshotFromRow(row), facts: migrationFactsFromRow(row) }, vm.arch) ??
    (vm.emulated ? "emulated" : "native");
  const cpuModel = cpuModelAfterMove(vm.arch, accel(sourceRow), accel(targetRow), vm.cpuModel);
  const spec = {
    ...(await specFor(run.vmId)),
    generation: run.generation + 1,
    powerState: "stopped" as const,
    cpuModel: cpuModel ?? undefined,
  };
  const status = await agentClient.putVm(run.target, run.vmId, spec);
  checkCancel(run);
  await commitMove(run, { emulated: status.emulated, powerState: status.powerState, cpuModel });
  await step.done(run, "define on target", `defined on ${run.target.name}, stopped`);
  run.progress(95);

  await cleanUpSource(run);
  return {
    mode: "cold",
    fromHostId: run.source.id,
    toHostId: run.target.id,
    totalMs: Date.now() - startedMs,
    downtimeMs: null,
    bytes,
  };
}

/** Removes what the target received (VM, staged root, volumes); best effort. */
export async function undoCold(run: MigrationRun): Promise<void> {
  const log = (what: string) => (error: unknown) => logError(what, error, { vmId: run.vmId });
  await agentClient.migrationAbort(run.target, run.vmId).catch(log("cold migration abort on the target failed"));
  await agentClient.deleteVm(run.target, run.vmId).catch(log("cold migration: VM not removed from the target"));
  for (const v of run.volumes)
    await agentClient.deleteVolume(run.target, v.id).catch(log("cold migration: volume not removed from the target"));
}
