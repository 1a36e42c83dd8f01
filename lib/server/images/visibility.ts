import "server-only";
// Who may see, boot and change which image (issue 12, finding 5). The one place that decides it:
//
//   admin     → every image
//   owner     → their own images, whatever the visibility (they may still rename or delete them)
//   private   → the owner (and admins) only
//   project   → members of the image's project; no project (rows from before projects) = the
//               default project, as for VMs (lib/server/vms/access.ts)
//   public    → everyone signed in
//
// An image the actor may not see does not exist for them: every read and change answers 404 with
// the message of a truly missing image, so ids cannot be probed. Only the owner or an admin
// renames, re-families, changes the visibility of or deletes an image (403 for others who see it).
import type { Prisma } from "../../generated/sqlite/client";
import { AppError } from "../../errors";
import { db, recordAudit, type Actor } from "../platform";
import { inProjects, isProjectMember, memberProjectIds, projectScopeFor, seesEveryProject } from "../projects";

type ActorRef = Pick<Actor, "id" | "email" | "role">;
type Attempt = { action: string; clientIp?: string | null };
type VisibilityFields = { visibility: string; projectId: string | null; ownerId: string | null };

const isAdmin = seesEveryProject;

export const imageNotFound = (id: string) =>
  new AppError({ code: "not_found", message: `Image ${id} does not exist.` });

/** A Prisma `where` fragment for image lists, counts and family lookups: every image the actor may see. */
export async function imageScopeFor(actor: ActorRef): Promise<Prisma.ImageWhereInput> {
  if (isAdmin(actor)) return {};
  const ids = await memberProjectIds(actor);
  return {
    OR: [
      { visibility: "public" },
      { ownerId: actor.id },
      { AND: [{ visibility: "project" }, { OR: inProjects(ids) }] },
    ],
  };
}

/** A Prisma `where` fragment for VMs the actor may see (the rule of lib/server/vms/access.ts, ADR 014). */
export const vmScopeForImages = (actor: ActorRef): Promise<Prisma.VmWhereInput> => projectScopeFor(actor);

export async function canSeeImage(actor: ActorRef, image: VisibilityFields): Promise<boolean> {
  if (isAdmin(actor) || image.visibility === "public" || (image.ownerId !== null && image.ownerId === actor.id))
    return true;
  return image.visibility === "project" && (await isProjectMember(actor, image.projectId));
}

async function denied(actor: ActorRef, id: string, attempt: Attempt | undefined, reason: string) {
  if (!attempt) return;
  await recordAudit({
    actor,
    action: attempt.action,
    result: "denied",
    targetType: "image",
    targetId: id,
    clientIp: attempt.clientIp,
    details: { reason, role: actor.role },
  });
}

/**
 * The image row if the actor may see it; not_found otherwise (missing or invisible alike).
 * With `attempt`, a refusal of an existing image is audited (use it for changes, not for reads).
 */
export async function requireVisibleImage(actor: ActorRef, id: string, attempt?: Attempt) {
  const image = await db().image.findUnique({ where: { id } });
  if (!image) throw imageNotFound(id);
  if (!(await canSeeImage(actor, image))) {
    await denied(actor, id, attempt, "image not visible to the actor");
    throw imageNotFound(id);
  }
  return image;
}

/** The image row if the actor may change it: the owner or an admin. Invisible: 404; visible, not theirs: 403. */
export async function requireImageOwner(actor: ActorRef, id: string, attempt: Attempt) {
  const image = await requireVisibleImage(actor, id, attempt);
  if (isAdmin(actor) || (image.ownerId !== null && image.ownerId === actor.id)) return image;
  await denied(actor, id, attempt, "not the image's owner");
  throw new AppError({
    code: "forbidden",
    message: `Only the owner of image ${image.name} or an admin may change or delete it.`,
  });
}

/**
 * The conflict message for a taken (family, arch) slot. The pair is unique across every project,
 * so the holder is named only to a caller who may see it; anyone else learns just that the family
 * name is in use (uploads and re-family alike).
 */
export async function familyTakenFor(
  actor: ActorRef,
  family: string,
  arch: string,
  holder: (VisibilityFields & { name: string }) | null,
): Promise<string> {
  if (holder && (await canSeeImage(actor, holder)))
    return `Family "${family}" already has an ${arch} build ("${holder.name}"). Use another family, or delete or re-family that build first.`;
  return `Family name "${family}" is already in use for ${arch}; choose another family name.`;
}
