import "server-only";
// From security groups to the agents' port firewalls (ADR 052). A VM's NIC ports get the union of its
// groups' rules, each remote group expanded to the addresses of its member VMs' NICs; a VM in no group
// gets no firewall (unfiltered, as before issue 18). A change re-programs every affected port live:
// the VMs in the changed groups and the VMs whose rules name those groups as remote.
import { AppError } from "../../errors";
import { agentClient } from "../hosts";
import { db, env, logError, recordAudit, type Caller } from "../platform";
import { firewallForVm, requireVmAccess, requireVmSecurityGroups } from "../vms";

export interface SyncResult {
  /** NIC ports whose agent took the new firewall */
  applied: number;
  /** ports not reachable now (host offline, VM moving or being created): retried by retryStaleFirewalls */
  failed: Array<{ vmId: string; nicId: string; error: string }>;
}

/** The VMs whose ports change when these groups change (members, and members of groups naming them). */
export async function affectedVmIds(groupIds: string[]): Promise<string[]> {
  const naming = await db().securityGroupRule.findMany({
    where: { remoteGroupId: { in: groupIds } },
    select: { groupId: true },
  });
  const all = [...new Set([...groupIds, ...naming.map((r) => r.groupId)])];
  const rows = await db().vmSecurityGroup.findMany({ where: { groupId: { in: all } }, select: { vmId: true } });
  return [...new Set(rows.map((r) => r.vmId))];
}

/** A VM that is neither being created nor moved: what its host has is what it will keep. */
const SETTLED = new Set(["running", "stopped"]);

/**
 * Pushes the current firewall of each VM's NICs to its host's agent. A VM whose host could not take it
 * (unreachable), or that is moving (its target plugged its ports with the spec of the move's start) or
 * still being created, is marked firewallStale and retried by retryStaleFirewalls. A settled VM whose
 * ports are not plugged (404) needs nothing: ports get the firewall from the VM's spec when plugged.
 */
export async function syncVmFirewalls(vmIds: string[]): Promise<SyncResult> {
  const result: SyncResult = { applied: 0, failed: [] };
  const vms = await db().vm.findMany({
    where: { id: { in: vmIds }, hostId: { not: null } },
    select: {
      id: true,
      status: true,
      firewallStale: true,
      migratingToHostId: true,
      nics: { select: { id: true } },
      host: { select: { id: true, name: true, agentUrl: true, tokenGeneration: true } },
    },
  });
  await Promise.all(
    vms.map(async (vm) => {
      if (!vm.host) return;
      const settled = SETTLED.has(vm.status) && !vm.migratingToHostId;
      let stale = !settled;
      const fw = await firewallForVm(vm.id);
      for (const nic of vm.nics) {
        try {
          await agentClient.putFirewall(vm.host, vm.id, nic.id, fw);
          result.applied++;
        } catch (error) {
          if (settled && error instanceof AppError && error.code === "not_found") continue;
          stale = true;
          const message = error instanceof Error ? error.message : String(error);
          result.failed.push({ vmId: vm.id, nicId: nic.id, error: message });
          logError("securityGroups.sync_failed", error, { vmId: vm.id, nicId: nic.id });
        }
      }
      if (stale !== vm.firewallStale)
        await db()
          .vm.updateMany({ where: { id: vm.id }, data: { firewallStale: stale } })
          .catch((e: unknown) => logError("securityGroups.stale_flag", e, { vmId: vm.id }));
    }),
  );
  return result;
}

/**
 * Periodic (lib/server/startup): the firewalls that did not reach their host go again once the VM is
 * settled on a host that answers heartbeats. Returns what this run pushed.
 */
export async function retryStaleFirewalls(opts: { nowMs?: number; freshMs?: number } = {}): Promise<SyncResult> {
  const since = new Date((opts.nowMs ?? Date.now()) - (opts.freshMs ?? env().POLYARCH_HEARTBEAT_TIMEOUT_MS));
  const rows = await db().vm.findMany({
    where: {
      firewallStale: true,
      status: { in: [...SETTLED] },
      migratingToHostId: null,
      host: { status: "online", agentUrl: { not: null }, lastHeartbeatAt: { gte: since } },
    },
    select: { id: true },
    take: 100,
  });
  if (rows.length === 0) return { applied: 0, failed: [] };
  return syncVmFirewalls(rows.map((r) => r.id));
}

export async function syncGroups(groupIds: string[]): Promise<SyncResult> {
  return syncVmFirewalls(await affectedVmIds(groupIds));
}

/**
 * PUT /api/v1/vms/:id/security-groups: the VM's groups become exactly `groupIds` (all of the VM's own
 * project: 404 for a group the caller cannot see, 403 for one of another project), then its ports and
 * those of VMs naming these groups as remote are re-programmed live — no restart.
 */
export async function setVmSecurityGroups(who: Caller, vmId: string, groupIds: string[]) {
  const vm = await requireVmAccess(who.actor, vmId, "vm:operate", {
    action: "vm.securityGroups",
    clientIp: who.clientIp,
  });
  await requireVmSecurityGroups(who, groupIds, vm, "vm.securityGroups");
  const before = await db().vmSecurityGroup.findMany({ where: { vmId }, select: { groupId: true } });
  await db().$transaction([
    db().vmSecurityGroup.deleteMany({ where: { vmId } }),
    ...groupIds.map((groupId) => db().vmSecurityGroup.create({ data: { vmId, groupId } })),
  ]);
  await recordAudit({
    actor: who.actor,
    action: "vm.securityGroups",
    result: "success",
    targetType: "vm",
    targetId: vm.id,
    clientIp: who.clientIp,
    details: { securityGroupIds: groupIds },
  });
  const changed = [...new Set([...before.map((b) => b.groupId), ...groupIds])];
  const others = await affectedVmIds(changed);
  const sync = await syncVmFirewalls([...new Set([vmId, ...others])]);
  return { vmId, securityGroupIds: groupIds, sync };
}

export async function vmSecurityGroupIds(
  who: Caller,
  vmId: string,
): Promise<{ vmId: string; securityGroupIds: string[] }> {
  await requireVmAccess(who.actor, vmId, "read", { action: "vm.securityGroups.read", clientIp: who.clientIp });
  const rows = await db().vmSecurityGroup.findMany({
    where: { vmId },
    select: { groupId: true },
    orderBy: { createdAt: "asc" },
  });
  return { vmId, securityGroupIds: rows.map((r) => r.groupId) };
}
