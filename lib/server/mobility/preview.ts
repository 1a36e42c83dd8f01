import "server-only";
// The migration preview: one verdict per host (lib/scheduler/migration.ts) for a VM as the database
// has it now, plus why it cannot move at all, and the scheduler's pick among the hosts that can take it.
import { AppError } from "../../errors";
import type { Arch } from "../../arch";
import {
  migrationBlocked,
  migrationFactsFromRow,
  migrationVerdicts,
  recommendTarget,
  type MigratingVm,
  type MigrationHost,
  type MigrationMode,
} from "../../scheduler/migration";
import { hostSnapshotFromRow } from "../../scheduler/snapshot";
import type { MigrationPreview } from "../../schemas/migration";
import { db, type Actor } from "../platform";
import { requireVmAccess, SPEC_VOLUME_STATES } from "../vms";

/** Everything a move needs to know about the VM, read once. */
export async function loadMovingVm(vmId: string) {
  const vm = await db().vm.findUnique({
    where: { id: vmId },
    include: {
      volumes: { where: { status: { in: [...SPEC_VOLUME_STATES] } }, select: { id: true, sizeGb: true } },
      _count: { select: { snapshots: true } },
    },
  });
  if (!vm) throw new AppError({ code: "not_found", message: `VM ${vmId} does not exist.` });
  const running = await db().task.findMany({
    where: { vmId, status: "running" },
    select: { kind: true },
    orderBy: { createdAt: "asc" },
  });
  const volumeGb = vm.volumes.reduce((sum, v) => sum + v.sizeGb, 0);
  const moving: MigratingVm = {
    arch: vm.arch as Arch,
    emulated: vm.emulated,
    allowEmulation: vm.allowEmulation,
    machineType: vm.machineType,
    cpuModel: vm.cpuModel,
    vcpus: vm.vcpus,
    memoryMb: vm.memoryMb,
    // Attached volumes move with the VM and claim the target's disk too (ADR 032).
    diskGb: vm.diskGb + volumeGb,
    hostId: vm.hostId,
  };
  const blocked = migrationBlocked({
    name: vm.name,
    status: vm.status,
    migratingToHostId: vm.migratingToHostId,
    runningTasks: running.map((t) => t.kind),
    internalSnapshots: vm._count.snapshots,
    hostId: vm.hostId,
  });
  return { row: vm, moving, blocked, volumes: vm.volumes };
}

export async function migrationHosts(): Promise<MigrationHost[]> {
  const rows = await db().host.findMany({ orderBy: { name: "asc" } });
  return rows.map((row) => ({ host: hostSnapshotFromRow(row), facts: migrationFactsFromRow(row) }));
}

export const modeFor = (status: string): MigrationMode => (status === "stopped" ? "cold" : "live");

/** The preview for a mode (default: what the VM's state allows), without an access check. */
export async function computePreview(vmId: string, mode?: MigrationMode) {
  const vm = await loadMovingVm(vmId);
  const hosts = await migrationHosts();
  const m = mode ?? modeFor(vm.row.status);
  const verdicts = migrationVerdicts(vm.moving, hosts, m);
  const preview: MigrationPreview = {
    vmId,
    arch: vm.moving.arch,
    migrationMode: m,
    machineType: vm.row.machineType,
    cpuModel: vm.row.cpuModel,
    blocked: vm.blocked,
    recommendedHostId: vm.blocked ? null : recommendTarget(vm.moving, hosts, verdicts, m),
    hosts: verdicts,
  };
  return { preview, vm, hosts };
}

/** GET /api/v1/vms/:id/migration-preview; a null actor (HA, evacuation) skips the access check. */
export async function migrationPreview(vmId: string, actor: Actor | null): Promise<MigrationPreview> {
  if (actor) await requireVmAccess(actor, vmId, "read", { action: "vm.migration-preview" });
  return (await computePreview(vmId)).preview;
}
