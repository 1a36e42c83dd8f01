import "server-only";
// Who may do what with external networks, routers and floating IPs (issue 18, ADR 059):
//   external network → everyone signed in reads (to pick one); admins create and delete
//   router           → follows its network (lib/server/networks/tenancy.ts): seen by who sees the network,
//                      changed by who may change it (a shared network's router: admins only)
//   floating IP      → belongs to a project: its members read; its operators and admins allocate, map, release
// What the caller may not see answers 404 like a missing object; what they see but may not change, 403.
import { AppError } from "../../errors";
import { db, recordAudit, type Actor, type Caller } from "../platform";
import { isProjectMember, seesEveryProject } from "../projects";

type ActorRef = Pick<Actor, "id" | "email" | "role">;

export const externalNetworkNotFound = (id: string) =>
  new AppError({ code: "not_found", message: `External network ${id} does not exist.` });
export const routerNotFound = (id: string) =>
  new AppError({ code: "not_found", message: `Router ${id} does not exist.` });
export const floatingIpNotFound = (id: string) =>
  new AppError({ code: "not_found", message: `Floating IP ${id} does not exist.` });

export async function deny(
  who: Caller,
  action: string,
  targetType: string,
  targetId: string | null,
  reason: string,
  error: AppError,
): Promise<AppError> {
  await recordAudit({
    actor: who.actor,
    action,
    result: "denied",
    targetType,
    targetId,
    clientIp: who.clientIp,
    details: { reason, role: who.actor.role },
  });
  return error;
}

/** External networks are the provider's: only admins define them. */
export async function requireAdmin(who: Caller, action: string, targetId: string | null): Promise<void> {
  if (seesEveryProject(who.actor)) return;
  throw await deny(
    who,
    action,
    "externalNetwork",
    targetId,
    "role may not manage external networks",
    new AppError({
      code: "forbidden",
      message: `Your role (${who.actor.role}) may not change external networks; an admin defines them.`,
    }),
  );
}

export async function canSeeProjectOf(actor: ActorRef, projectId: string): Promise<boolean> {
  return seesEveryProject(actor) || isProjectMember(actor, projectId);
}

/** Allocating, mapping and releasing a project's floating IPs: its operators and admins. */
export async function assertMayManageProject(who: Caller, projectId: string, action: string, targetId: string | null) {
  if (seesEveryProject(who.actor)) {
    if (!(await db().project.findUnique({ where: { id: projectId }, select: { id: true } })))
      throw new AppError({ code: "not_found", message: `Project ${projectId} does not exist.` });
    return;
  }
  if (!(await isProjectMember(who.actor, projectId)))
    throw await deny(
      who,
      action,
      "floatingIp",
      targetId,
      "not a member of the project",
      new AppError({ code: "not_found", message: `Project ${projectId} does not exist.` }),
    );
  if (who.actor.role !== "operator")
    throw await deny(
      who,
      action,
      "floatingIp",
      targetId,
      "role may not manage floating IPs",
      new AppError({
        code: "forbidden",
        message: `Your role (${who.actor.role}) may not change floating IPs; operators manage their projects' addresses.`,
      }),
    );
}
