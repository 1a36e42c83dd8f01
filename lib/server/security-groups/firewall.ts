import "server-only";
// From security groups to the agents' port firewalls (ADR 052). A VM's NIC ports get the union of its
// groups' rules, each remote group expanded to the addresses of its member VMs' NICs; a VM in no group
// gets no firewall (unfiltered, as before issue 18). A change re-programs every affected port live:
// the VMs in the changed groups and the VMs whose rules name those groups as remote.
import { AppError } from "../../errors";
import type { PortFirewall, PortFirewallRule } from "../../schemas/security-groups";
import { agentClient } from "../hosts";
import { db, logError, recordAudit, type Caller } from "../platform";
import { canSeeProject, requireVmAccess } from "../vms";

export interface SyncResult {
  /** NIC ports whose agent took the new firewall */
  applied: number;
  /** ports not reachable now (host offline, VM not there yet): they get it with the next change */
  failed: Array<{ vmId: string; nicId: string; error: string }>;
}

/** The firewall for the NICs of `vmId` (null: the VM is in no group). */
export async function firewallForVm(vmId: string): Promise<PortFirewall | null> {
  const memberships = await db().vmSecurityGroup.findMany({
    where: { vmId },
    select: { group: { select: { rules: true } } },
  });
  if (memberships.length === 0) return null;
  const rules = memberships.flatMap((m) => m.group.rules);
  const remoteIds = [...new Set(rules.map((r) => r.remoteGroupId).filter((id): id is string => Boolean(id)))];
  const members = remoteIds.length
    ? await db().vmSecurityGroup.findMany({
        where: { groupId: { in: remoteIds } },
        select: { groupId: true, vm: { select: { nics: { select: { ip: true } } } } },
      })
    : [];
  const addressesOf = (groupId: string) =>
    [
      ...new Set(
        members.filter((m) => m.groupId === groupId).flatMap((m) => m.vm.nics.map((n) => n.ip).filter(Boolean)),
      ),
    ].map((ip) => `${ip}/32`);
  const out: PortFirewallRule[] = rules.map((r) => ({
    direction: r.direction === "in" ? "in" : "out",
    protocol: (["tcp", "udp", "icmp"] as const).find((p) => p === r.protocol) ?? "any",
    ...(r.portMin !== null && r.portMax !== null ? { portMin: r.portMin, portMax: r.portMax } : {}),
    remoteCidrs: r.remoteCidr ? [r.remoteCidr] : r.remoteGroupId ? addressesOf(r.remoteGroupId) : ["0.0.0.0/0"],
  }));
  return { rules: out };
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

/** Pushes the current firewall of each VM's NICs to its host's agent. */
export async function syncVmFirewalls(vmIds: string[]): Promise<SyncResult> {
  const result: SyncResult = { applied: 0, failed: [] };
  const vms = await db().vm.findMany({
    where: { id: { in: vmIds }, hostId: { not: null } },
    select: {
      id: true,
      nics: { select: { id: true } },
      host: { select: { id: true, name: true, agentUrl: true, tokenGeneration: true } },
    },
  });
  await Promise.all(
    vms.map(async (vm) => {
      if (!vm.host) return;
      const fw = await firewallForVm(vm.id);
      for (const nic of vm.nics) {
        try {
          await agentClient.putFirewall(vm.host, vm.id, nic.id, fw);
          result.applied++;
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          result.failed.push({ vmId: vm.id, nicId: nic.id, error: message });
          logError("securityGroups.sync_failed", error, { vmId: vm.id, nicId: nic.id });
        }
      }
    }),
  );
  return result;
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
  const groups = await db().securityGroup.findMany({
    where: { id: { in: groupIds } },
    select: { id: true, name: true, projectId: true },
  });
  for (const id of groupIds) {
    const g = groups.find((x) => x.id === id);
    if (!g || !(await canSeeProject(who.actor, g.projectId)))
      throw new AppError({ code: "not_found", message: `Security group ${id} does not exist.` });
    if (g.projectId !== vm.projectId) {
      await recordAudit({
        actor: who.actor,
        action: "vm.securityGroups",
        result: "denied",
        targetType: "vm",
        targetId: vm.id,
        clientIp: who.clientIp,
        details: { reason: "security group of another project", groupId: id },
      });
      throw new AppError({
        code: "forbidden",
        message: `Security group ${g.name} belongs to another project than VM ${vm.name}; use a group of the VM's project.`,
      });
    }
  }
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
