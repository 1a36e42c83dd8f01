import "server-only";
// Security groups and their rules (issue 18, ADR 052). A group belongs to one project:
//   seen by admins and the project's members (others: 404 like a missing group, ids cannot be probed);
//   created, given rules, deleted by the project's operators and by admins (viewers: 403).
// Every change is audited; a rule change re-programs the ports of the VMs it affects (firewall.ts).
import { AppError } from "../../errors";
import type { CreateSecurityGroupInput, CreateSecurityGroupRuleInput } from "../../schemas/security-groups";
import { db, isUniqueViolation, recordAudit, type Actor, type Caller } from "../platform";
import { syncGroups } from "./firewall";
import { firstProjectOf, isProjectMember, memberProjectIds, seesEveryProject } from "../projects";

type ActorRef = Pick<Actor, "id" | "email" | "role">;

export const groupNotFound = (id: string) =>
  new AppError({ code: "not_found", message: `Security group ${id} does not exist.` });

const ruleSelect = {
  id: true,
  direction: true,
  protocol: true,
  portMin: true,
  portMax: true,
  remoteCidr: true,
  remoteGroupId: true,
  createdAt: true,
} as const;
const groupInclude = {
  rules: { select: ruleSelect, orderBy: { createdAt: "asc" } },
  _count: { select: { vms: true } },
} as const;

type GroupRow = {
  id: string;
  name: string;
  description: string | null;
  projectId: string;
  createdAt: Date;
  updatedAt: Date;
  rules: Array<{
    id: string;
    direction: string;
    protocol: string;
    portMin: number | null;
    portMax: number | null;
    remoteCidr: string | null;
    remoteGroupId: string | null;
    createdAt: Date;
  }>;
  _count: { vms: number };
};

export function toSecurityGroupDto(g: GroupRow) {
  return {
    id: g.id,
    name: g.name,
    description: g.description,
    projectId: g.projectId,
    vmCount: g._count.vms,
    rules: g.rules,
    createdAt: g.createdAt,
    updatedAt: g.updatedAt,
  };
}
export type SecurityGroupDto = ReturnType<typeof toSecurityGroupDto>;

async function canSee(actor: ActorRef, projectId: string): Promise<boolean> {
  return seesEveryProject(actor) || isProjectMember(actor, projectId);
}

async function deny(who: Caller, action: string, targetId: string | null, reason: string, error: AppError) {
  await recordAudit({
    actor: who.actor,
    action,
    result: "denied",
    targetType: "securityGroup",
    targetId,
    clientIp: who.clientIp,
    details: { reason, role: who.actor.role },
  });
  return error;
}

/** Viewers never change groups; operators only in their projects (a foreign project answers 404). */
async function assertMayManage(who: Caller, projectId: string, action: string, targetId: string | null) {
  if (seesEveryProject(who.actor)) return;
  if (who.actor.role !== "operator")
    throw await deny(
      who,
      action,
      targetId,
      "role may not manage security groups",
      new AppError({
        code: "forbidden",
        message: `Your role (${who.actor.role}) may not change security groups; operators manage their projects' groups.`,
      }),
    );
  if (!(await isProjectMember(who.actor, projectId)))
    throw await deny(
      who,
      action,
      targetId,
      "not a member of the project",
      new AppError({ code: "not_found", message: `Project ${projectId} does not exist.` }),
    );
}

/** A group the caller may see (else 404, audited); with `manage`, also change (else 403/404). */
export async function requireGroup(who: Caller, id: string, action: string, manage: boolean) {
  const row = await db().securityGroup.findUnique({ where: { id }, select: { id: true, name: true, projectId: true } });
  if (!row) throw groupNotFound(id);
  if (!(await canSee(who.actor, row.projectId)))
    throw await deny(who, action, id, "not a member of the group's project", groupNotFound(id));
  if (manage) await assertMayManage(who, row.projectId, action, id);
  return row;
}

export async function listSecurityGroups(actor: ActorRef, query: { projectId?: string } = {}) {
  const scope = seesEveryProject(actor) ? {} : { projectId: { in: await memberProjectIds(actor) } };
  const rows = await db().securityGroup.findMany({
    where: { AND: [scope, query.projectId ? { projectId: query.projectId } : {}] },
    include: groupInclude,
    orderBy: [{ projectId: "asc" }, { name: "asc" }],
  });
  return { items: rows.map(toSecurityGroupDto), total: rows.length };
}

export async function getSecurityGroup(who: Caller, id: string): Promise<SecurityGroupDto> {
  await requireGroup(who, id, "securityGroup.read", false);
  return toSecurityGroupDto(await db().securityGroup.findUniqueOrThrow({ where: { id }, include: groupInclude }));
}

/**
 * Creates a group in `projectId` (absent: the caller's first project) with one rule allowing every
 * outbound connection, so a new group is "deny in, allow out" until rules are added or removed.
 */
export async function createSecurityGroup(input: CreateSecurityGroupInput, who: Caller): Promise<SecurityGroupDto> {
  const projectId = input.projectId ?? (await firstProjectOf(who.actor));
  if (!projectId)
    throw new AppError({ code: "invalid", message: "You are in no project: give the projectId of the group." });
  if (
    seesEveryProject(who.actor) &&
    !(await db().project.findUnique({ where: { id: projectId }, select: { id: true } }))
  )
    throw new AppError({ code: "not_found", message: `Project ${projectId} does not exist.` });
  await assertMayManage(who, projectId, "securityGroup.create", null);
  let row;
  try {
    row = await db().securityGroup.create({
      data: {
        name: input.name,
        description: input.description || null,
        projectId,
        rules: { create: [{ direction: "out", protocol: "any" }] },
      },
      include: groupInclude,
    });
  } catch (error) {
    if (isUniqueViolation(error))
      throw new AppError({
        code: "conflict",
        message: `The project already has a security group named ${input.name}.`,
      });
    throw error;
  }
  await recordAudit({
    actor: who.actor,
    action: "securityGroup.create",
    result: "success",
    targetType: "securityGroup",
    targetId: row.id,
    clientIp: who.clientIp,
    details: { name: row.name, projectId },
  });
  return toSecurityGroupDto(row);
}

/** Deleting a group VMs are still in is refused (409): detach it first, so no port changes silently. */
export async function deleteSecurityGroup(who: Caller, id: string) {
  const g = await requireGroup(who, id, "securityGroup.delete", true);
  const inUse = await db().vmSecurityGroup.count({ where: { groupId: id } });
  if (inUse > 0)
    throw new AppError({
      code: "conflict",
      message: `Security group ${g.name} is attached to ${inUse} VM(s); detach it from them first.`,
    });
  const referencing = await db().securityGroupRule.findMany({
    where: { remoteGroupId: id, NOT: { groupId: id } },
    select: { groupId: true },
  });
  await db().securityGroup.delete({ where: { id } }); // its rules and rules naming it go with it (Cascade)
  await recordAudit({
    actor: who.actor,
    action: "securityGroup.delete",
    result: "success",
    targetType: "securityGroup",
    targetId: id,
    clientIp: who.clientIp,
    details: { name: g.name },
  });
  const sync = await syncGroups([...new Set(referencing.map((r) => r.groupId))]);
  return { id, deleted: true as const, sync };
}

export async function addSecurityGroupRule(who: Caller, groupId: string, input: CreateSecurityGroupRuleInput) {
  const g = await requireGroup(who, groupId, "securityGroup.rule.create", true);
  if (input.remoteGroupId) {
    const remote = await db().securityGroup.findUnique({
      where: { id: input.remoteGroupId },
      select: { projectId: true },
    });
    if (!remote || remote.projectId !== g.projectId)
      throw new AppError({
        code: "invalid",
        message: `Remote group ${input.remoteGroupId} is not a security group of this group's project.`,
      });
  }
  const rule = await db().securityGroupRule.create({
    data: {
      groupId,
      direction: input.direction,
      protocol: input.protocol,
      portMin: input.portMin ?? null,
      portMax: input.portMax ?? null,
      remoteCidr: input.remoteCidr ?? null,
      remoteGroupId: input.remoteGroupId ?? null,
    },
    select: ruleSelect,
  });
  await recordAudit({
    actor: who.actor,
    action: "securityGroup.rule.create",
    result: "success",
    targetType: "securityGroup",
    targetId: groupId,
    clientIp: who.clientIp,
    details: { ruleId: rule.id, ...input },
  });
  return { ...rule, sync: await syncGroups([groupId]) };
}

export async function deleteSecurityGroupRule(who: Caller, groupId: string, ruleId: string) {
  await requireGroup(who, groupId, "securityGroup.rule.delete", true);
  const { count } = await db().securityGroupRule.deleteMany({ where: { id: ruleId, groupId } });
  if (count === 0) throw new AppError({ code: "not_found", message: `Rule ${ruleId} does not exist in this group.` });
  await recordAudit({
    actor: who.actor,
    action: "securityGroup.rule.delete",
    result: "success",
    targetType: "securityGroup",
    targetId: groupId,
    clientIp: who.clientIp,
    details: { ruleId },
  });
  return { id: ruleId, deleted: true as const, sync: await syncGroups([groupId]) };
}
