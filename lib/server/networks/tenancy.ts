import "server-only";
// Who may see, define and attach to which network (issue 12, finding 6). The one place that decides it,
// modelled on OpenStack Neutron's default policy:
//
//   shared network  (projectId null) → seen and attached by everyone; created, changed, deleted by admins only
//   project network (projectId set)  → seen and attached by members of that project (admins: all);
//                                      created, changed, deleted by its members with the operator role, or admins
//   a VM                             → attaches only to its own project's networks or shared ones, whoever asks
//
// A network the actor may not see does not exist for them (404 with the message of a missing one,
// so ids cannot be probed). One they see but may not change, or that belongs to another project
// than the VM's, answers 403 saying why. VLAN ids stay globally unique (one OVS bridge per host).
import { AppError } from "../../errors";
import type { Prisma } from "../../generated/sqlite/client";
import { db, recordAudit, type Actor, type Caller } from "../platform";
import { isProjectMember, memberProjectIds, seesEveryProject } from "../projects";

type ActorRef = Pick<Actor, "id" | "email" | "role">;
type Scoped = { id: string; name: string; projectId: string | null };

const isAdmin = seesEveryProject;

export const networkNotFound = (id: string) =>
  new AppError({ code: "not_found", message: `Network ${id} does not exist.` });

// A network's projectId null means *shared*, never the default project: only non-null ids reach isMember.
const isMember = (actor: Pick<Actor, "id">, projectId: string) => isProjectMember(actor, projectId);

/** A Prisma `where` fragment for network lists: shared networks and those of the actor's projects (admins: all). */
export async function networkScopeFor(actor: ActorRef): Promise<Prisma.NetworkWhereInput> {
  if (isAdmin(actor)) return {};
  return { OR: [{ projectId: null }, { projectId: { in: await memberProjectIds(actor) } }] };
}

/** For messages that name other networks (clashes): may the actor learn of a network of this project? */
export async function networkVisibility(actor: ActorRef): Promise<(projectId: string | null) => boolean> {
  if (isAdmin(actor)) return () => true;
  const ids = new Set(await memberProjectIds(actor));
  return (projectId) => projectId === null || ids.has(projectId);
}

export async function canSeeNetwork(actor: ActorRef, network: Pick<Scoped, "projectId">): Promise<boolean> {
  if (isAdmin(actor) || network.projectId === null) return true;
  return isMember(actor, network.projectId);
}

/** Refusals already audited as "denied" (networks.ts' audited() must not add an "error" row for them). */
export const auditedDenials = new WeakSet<Error>();

async function deny(who: Caller, action: string, targetId: string | null, reason: string, error: AppError) {
  auditedDenials.add(error);
  await recordAudit({
    actor: who.actor,
    action,
    result: "denied",
    targetType: "network",
    targetId,
    clientIp: who.clientIp,
    details: { reason, role: who.actor.role },
  });
  return error;
}

/**
 * May the caller define a network in `projectId` (null = shared)? Admins: anywhere. Operators: only in a
 * project they are a member of. Viewers: never. A project the caller is not in answers like a missing one.
 */
export async function assertMayDefine(who: Caller, projectId: string | null, action: string, targetId: string | null) {
  const { actor } = who;
  if (isAdmin(actor)) {
    if (projectId !== null && !(await db().project.findUnique({ where: { id: projectId }, select: { id: true } })))
      throw new AppError({ code: "not_found", message: `Project ${projectId} does not exist.` });
    return;
  }
  if (actor.role !== "operator") {
    throw await deny(
      who,
      action,
      targetId,
      "role may not manage networks",
      new AppError({
        code: "forbidden",
        message: `Your role (${actor.role}) may not create or change networks; operators manage their projects' networks.`,
      }),
    );
  }
  if (projectId === null) {
    throw await deny(
      who,
      action,
      targetId,
      "shared networks are admin-only",
      new AppError({
        code: "forbidden",
        message: "Only admins create or change shared networks; give the projectId of one of your projects.",
      }),
    );
  }
  if (!(await isMember(actor, projectId))) {
    throw await deny(
      who,
      action,
      targetId,
      "not a member of the project",
      new AppError({ code: "not_found", message: `Project ${projectId} does not exist.` }),
    );
  }
}

/** Loads a network the caller may change (update/delete): 404 if they cannot see it, 403 if shared and not admin. */
export async function requireChangeableNetwork(who: Caller, id: string, action: string): Promise<Scoped> {
  const row = await db().network.findUnique({ where: { id }, select: { id: true, name: true, projectId: true } });
  if (!row) throw networkNotFound(id);
  if (!(await canSeeNetwork(who.actor, row))) {
    throw await deny(who, action, id, "not a member of the network's project", networkNotFound(id));
  }
  await assertMayDefine(who, row.projectId, action, id);
  return row;
}

/**
 * The network a new VM of project `vmProjectId` may attach to: visible to the caller (else 404) and
 * shared or of that very project (else 403 — also for admins: tenancy is about the VM, not the caller).
 */
export async function requireAttachableNetwork(who: Caller, networkId: string, vmProjectId: string): Promise<Scoped> {
  const row = await db().network.findUnique({
    where: { id: networkId },
    select: { id: true, name: true, projectId: true },
  });
  if (!row) throw networkNotFound(networkId);
  if (!(await canSeeNetwork(who.actor, row))) {
    throw await deny(who, "vm.create", networkId, "not a member of the network's project", networkNotFound(networkId));
  }
  if (row.projectId !== null && row.projectId !== vmProjectId) {
    throw await deny(
      who,
      "vm.create",
      networkId,
      "network belongs to another project than the VM",
      new AppError({
        code: "forbidden",
        message:
          `Network ${row.name} belongs to another project; a VM attaches only to networks of its own project ` +
          `or shared ones. Choose one of those, or create the VM in the network's project.`,
      }),
    );
  }
  return row;
}
