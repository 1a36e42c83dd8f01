import "server-only";
// Project membership: the one rule every domain scopes by (VMs, images, networks, uploads, consoles).
// A row without a project (from before projects) belongs to the default project.
import { DEFAULT_PROJECT_ID } from "../../schemas/projects";
import { db, type Actor } from "../platform";

export function seesEveryProject(actor: Pick<Actor, "role">): boolean {
  return actor.role === "admin";
}

/** Ids of the projects the actor is a member of (admins: their memberships too, though they see all). */
export async function memberProjectIds(actor: Pick<Actor, "id">): Promise<string[]> {
  const rows = await db().projectMember.findMany({ where: { userId: actor.id }, select: { projectId: true } });
  return rows.map((r) => r.projectId);
}

/**
 * The visibility rule for callers that loaded the memberships already (the console re-check batches
 * every open console into one query): admins see every project, others the projects they are
 * members of. null = the default project.
 */
export function projectVisibleTo(
  actor: Pick<Actor, "role">,
  memberOf: ReadonlySet<string>,
  projectId: string | null,
): boolean {
  return seesEveryProject(actor) || memberOf.has(projectId ?? DEFAULT_PROJECT_ID);
}

/** Is the actor a member of this project? (null = the default project; membership only, not the admin rule) */
export async function isProjectMember(actor: Pick<Actor, "id">, projectId: string | null): Promise<boolean> {
  const row = await db().projectMember.findUnique({
    where: { projectId_userId: { projectId: projectId ?? DEFAULT_PROJECT_ID, userId: actor.id } },
    select: { userId: true },
  });
  return row !== null;
}

/** `where` alternatives for rows whose nullable projectId is one of `ids` (null counts as the default project). */
export function inProjects(ids: string[]): Array<{ projectId: { in: string[] } } | { projectId: null }> {
  return [{ projectId: { in: ids } }, ...(ids.includes(DEFAULT_PROJECT_ID) ? [{ projectId: null }] : [])];
}

/**
 * A `where` fragment for rows scoped by project (VMs, and anything listed "of the VMs one may see"):
 * admins everything, others their projects' rows, null projectId counting as the default project.
 */
export async function projectScopeFor(
  actor: Pick<Actor, "id" | "role">,
): Promise<{ OR: Array<{ projectId: { in: string[] } } | { projectId: null }> } | Record<string, never>> {
  if (seesEveryProject(actor)) return {};
  return { OR: inProjects(await memberProjectIds(actor)) };
}

/** The user's oldest project: where their VMs and uploads go when they name none (null: in no project). */
export async function firstProjectOf(actor: Pick<Actor, "id">): Promise<string | null> {
  const first = await db().projectMember.findFirst({
    where: { userId: actor.id },
    orderBy: [{ project: { createdAt: "asc" } }, { projectId: "asc" }],
    select: { projectId: true },
  });
  return first?.projectId ?? null;
}
