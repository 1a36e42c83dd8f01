import "server-only";
// Migrations whose controller died (the orphaned-task sweep, vms/provision.ts, has already failed
// their task): the VM still says "migrating to T" with T's capacity claimed. The target decides
// what happened: if it runs (or, cold, holds) the VM at the next generation with no migration
// pending, the move took effect and is recorded; otherwise both agents are told to undo it and
// the claim goes back. A target that does not answer is asked again at the next sweep.
import { AppError } from "../../errors";
import { agentClient } from "../hosts";
import { db, logError, logInfo } from "../platform";
import { MIGRATE_TASK } from "./migrate";
import { loadMovingVm } from "./preview";
import { commitMove, rollbackMove } from "./run";

export async function recoverAbandonedMigrations(): Promise<{ committed: string[]; undone: string[] }> {
  const marked = await db().vm.findMany({
    where: { migratingToHostId: { not: null } },
    select: { id: true, name: true, hostId: true, migratingToHostId: true, generation: true },
  });
  const committed: string[] = [];
  const undone: string[] = [];
  for (const vm of marked) {
    const active = await db().task.count({ where: { vmId: vm.id, kind: MIGRATE_TASK, status: "running" } });
    if (active > 0 || !vm.hostId) continue;
    const [source, target] = await Promise.all([
      db().host.findUnique({ where: { id: vm.hostId } }),
      db().host.findUnique({ where: { id: vm.migratingToHostId! } }),
    ]);
    if (!source || !target) continue;
    const moving = await loadMovingVm(vm.id);
    const run = {
      vmId: vm.id,
      source,
      target,
      claim: { vcpus: moving.moving.vcpus, memoryMb: moving.moving.memoryMb, diskGb: moving.moving.diskGb },
      generation: vm.generation,
    };
    let copy;
    try {
      copy = await agentClient.getVm(target, vm.id);
    } catch (error) {
      if (!(error instanceof AppError && error.code === "not_found")) {
        logError("abandoned migration: target not answering", error, { vmId: vm.id });
        continue;
      }
      copy = null;
    }
    try {
      if (copy && !copy.migration && (copy.generation ?? 1) === vm.generation + 1) {
        await commitMove(run, { emulated: copy.emulated, powerState: copy.powerState });
        await agentClient.migrationRelease(source, vm.id).catch(() => undefined);
        committed.push(vm.id);
      } else {
        await agentClient.migrationCancel(source, vm.id).catch(() => undefined);
        await agentClient.migrationAbort(target, vm.id).catch(() => undefined);
        await rollbackMove(run);
        undone.push(vm.id);
      }
    } catch (error) {
      logError("abandoned migration not settled", error, { vmId: vm.id });
    }
  }
  if (committed.length || undone.length) logInfo("abandoned migrations settled", { committed, undone });
  return { committed, undone };
}
