import "server-only";
// A VM's security-group firewall as its NIC ports get it (ADR 052): the union of its groups' rules,
// each remote group expanded to the addresses of its member VMs' NICs. Here, below the security-groups
// domain, because every spec sent to an agent carries it (spec.ts): a port is plugged with its firewall.
import { AppError } from "../../errors";
import type { PortFirewall, PortFirewallRule } from "../../schemas/security-groups";
import { db, recordAudit, type Caller } from "../platform";
import { canSeeProject } from "./access";

/** The firewall for the NICs of `vmId` (null: the VM is in no group). */
export async function firewallForVm(vmId: string): Promise<PortFirewall | null> {
  // The memberships first: a VM in no group (the common case) costs one read, not three.
  const memberships = await db().vmSecurityGroup.findMany({ where: { vmId }, select: { groupId: true } });
  if (memberships.length === 0) return null;
  const groupIds = memberships.map((m) => m.groupId);
  const groupRules = await db().securityGroupRule.findMany({ where: { groupId: { in: groupIds } } });
  // In membership order, each group's rules as the database returns them (as the nested read did).
  const rules = groupIds.flatMap((id) => groupRules.filter((r) => r.groupId === id));
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

/**
 * The groups a VM of `projectId` may be in, checked for `who`: 404 for a group the caller cannot see
 * (as a missing one), 403 (audited) for one of another project — also for admins, like networks.
 */
export async function requireVmSecurityGroups(
  who: Caller,
  groupIds: readonly string[],
  vm: { id?: string; name: string; projectId: string | null },
  action: string,
): Promise<void> {
  if (groupIds.length === 0) return;
  const groups = await db().securityGroup.findMany({
    where: { id: { in: [...groupIds] } },
    select: { id: true, name: true, projectId: true },
  });
  for (const id of groupIds) {
    const g = groups.find((x) => x.id === id);
    if (!g || !(await canSeeProject(who.actor, g.projectId)))
      throw new AppError({ code: "not_found", message: `Security group ${id} does not exist.` });
    if (g.projectId !== vm.projectId) {
      await recordAudit({
        actor: who.actor,
        action,
        result: "denied",
        targetType: "vm",
        targetId: vm.id ?? null,
        clientIp: who.clientIp,
        details: { reason: "security group of another project", groupId: id },
      });
      throw new AppError({
        code: "forbidden",
        message: `Security group ${g.name} belongs to another project than VM ${vm.name}; use a group of the VM's project.`,
      });
    }
  }
}
