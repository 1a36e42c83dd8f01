import "server-only";
// The one place that decides which VMs an actor may see and operate (ADR 014).
//
//   admin              → every VM of every project
//   operator / viewer  → only VMs of projects they are members of, within their role's permissions
//
// A VM outside the actor's projects does not exist for them: reads and operations on it answer
// 404 not_found with the same message as a VM that truly does not exist (its existence never
// leaks). 403 forbidden is reserved for a VM the actor can see but whose operation their role does
// not grant (e.g. a viewer deleting a VM of their own project). Every refusal is audited.
// A VM with no project (rows written before projects, or by tools writing the database directly)
// counts as a VM of the default project.
import { AppError } from "../../errors";
import { can, type Permission } from "../../permissions";
import { DEFAULT_PROJECT_ID } from "../../schemas/projects";
import { recordAudit } from "../platform";
import { db } from "../platform";
import { requirePermission } from "../identity";
import { type Actor } from "../platform";
import { ensureDefaultProject, firstProjectOf, isProjectMember, projectScopeFor, seesEveryProject } from "../projects";

type ActorRef = Pick<Actor, "id" | "email" | "role">;
type Attempt = { action: string; clientIp?: string | null };

/** May the actor see VMs of this project? (null = the default project) */
export async function canSeeProject(actor: ActorRef, projectId: string | null): Promise<boolean> {
  return seesEveryProject(actor) || (await isProjectMember(actor, projectId));
}

/** A Prisma `where` fragment for VM lists and counts: every VM the actor may see. */
export const vmScopeFor = (actor: ActorRef) => projectScopeFor(actor);

/**
 * A Prisma `where` fragment for task lists (events page, dashboard, notifications): tasks of VMs
 * the actor may see, plus tasks the actor started (a deleted VM's tasks keep no VM).
 */
export async function taskScopeFor(
  actor: ActorRef,
): Promise<{ OR: [{ vm: Awaited<ReturnType<typeof vmScopeFor>> }, { userId: string }] } | Record<string, never>> {
  if (seesEveryProject(actor)) return {};
  return { OR: [{ vm: await vmScopeFor(actor) }, { userId: actor.id }] };
}

export const vmNotFound = (vmId: string) => new AppError({ code: "not_found", message: `VM ${vmId} does not exist.` });

/**
 * Loads the VM if the actor may see it and their role grants `permission`; otherwise throws
 * not_found (not in their projects, or gone) or forbidden (visible, but the role lacks it).
 */
export async function requireVmAccess(
  actor: Actor,
  vmId: string,
  permission: Permission,
  attempt?: Attempt,
): Promise<{ id: string; name: string; projectId: string | null }> {
  const vm = await db().vm.findUnique({ where: { id: vmId }, select: { id: true, name: true, projectId: true } });
  if (!vm) throw vmNotFound(vmId);
  if (!(await canSeeProject(actor, vm.projectId))) {
    await recordAudit({
      actor,
      action: attempt?.action ?? "vm.access",
      result: "denied",
      targetType: "vm",
      targetId: vm.id,
      clientIp: attempt?.clientIp,
      details: {
        reason: "not a member of the VM's project",
        projectId: vm.projectId ?? DEFAULT_PROJECT_ID,
        permission,
        role: actor.role,
      },
    });
    throw vmNotFound(vmId);
  }
  if (!can(actor.role, permission))
    await requirePermission(actor, permission, {
      action: attempt?.action ?? "vm.access",
      targetType: "vm",
      targetId: vm.id,
      clientIp: attempt?.clientIp,
    });
  return vm;
}

/** For pages: true when the actor may see the VM (a refusal is audited like any other). */
export async function canSeeVm(actor: Actor, vmId: string, attempt?: Attempt): Promise<boolean> {
  try {
    await requireVmAccess(actor, vmId, "read", attempt);
    return true;
  } catch (error) {
    if (error instanceof AppError && error.code === "not_found") return false;
    throw error;
  }
}

/**
 * The project a new VM goes into: the requested one (the actor must be a member; admins: any
 * project), else the actor's first project (by creation), else — for admins — the default project.
 */
export async function projectForNewVm(
  actor: Actor,
  requested: string | null | undefined,
  attempt?: Attempt,
): Promise<string> {
  if (requested) {
    const project = await db().project.findUnique({ where: { id: requested }, select: { id: true } });
    if (project && (await canSeeProject(actor, project.id))) return project.id;
    if (project) {
      await recordAudit({
        actor,
        action: attempt?.action ?? "vm.create",
        result: "denied",
        targetType: "project",
        targetId: project.id,
        clientIp: attempt?.clientIp,
        details: { reason: "not a member of the project", role: actor.role },
      });
    }
    // Same answer whether the project is missing or someone else's: ids never leak.
    throw new AppError({ code: "not_found", message: `Project ${requested} does not exist.` });
  }
  const first = await firstProjectOf(actor);
  if (first) return first;
  if (seesEveryProject(actor)) return (await ensureDefaultProject()).id;
  throw new AppError({
    code: "forbidden",
    message: "You are not a member of any project, so you cannot create VMs; ask an admin to add you to one.",
  });
}
