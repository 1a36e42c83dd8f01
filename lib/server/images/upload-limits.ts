import "server-only";
// What an upload or import may take (ADR 027): free space on the image store's filesystem minus a
// reserve (the store shares the disk with the database), the project's image quota, how many
// uploads one user runs at once (counted in the database, so it holds with several controllers),
// and which project and visibility the image gets. Every refusal names the numbers behind it.
import { mkdir, statfs } from "node:fs/promises";
import type { Prisma } from "../../generated/sqlite/client";
import { AppError } from "../../errors";
import type { ImageVisibility } from "../../schemas/images";
import { DEFAULT_PROJECT_ID } from "../../schemas/projects";
import { controllerId, db, dbNowMs, env, liveControllers, type Caller } from "../platform";
import { firstProjectOf, isProjectMember } from "../projects";

const GiB = 1024 ** 3;
/** How often (in bytes received) a running upload looks at free space and quota again. */
export const RECHECK_EVERY_BYTES = 64 * 1024 ** 2;

const fmtGiB = (bytes: number) =>
  bytes >= GiB || bytes === 0 ? `${+(bytes / GiB).toFixed(2)} GiB` : `${+(bytes / 1024 ** 2).toFixed(1)} MiB`;

export interface UploadTarget {
  /** null: no project (counts as the default project, see visibility.ts) */
  projectId: string | null;
  visibility: ImageVisibility;
}

/**
 * The project and visibility of a new image. Operators may choose private or project; only admins
 * publish to everyone. The project defaults to the caller's first project and must be one of theirs.
 */
export async function resolveUploadTarget(
  who: Caller,
  want: { visibility: ImageVisibility; projectId?: string | null },
): Promise<UploadTarget> {
  const admin = who.actor.role === "admin";
  if (want.visibility === "public" && !admin)
    throw new AppError({
      code: "forbidden",
      message: "Only admins may make an image public; choose project (members of the project) or private (only you).",
    });
  if (want.projectId) {
    const project = await db().project.findUnique({ where: { id: want.projectId }, select: { id: true, name: true } });
    const member = project && (admin || (await isProjectMember(who.actor, project.id)));
    // A project the caller is not in does not exist for them (as in the projects API).
    if (!member) throw new AppError({ code: "not_found", message: `Project ${want.projectId} does not exist.` });
    return { projectId: project.id, visibility: want.visibility };
  }
  return { projectId: await firstProjectOf(who.actor), visibility: want.visibility };
}

// ---------------------------------------------------------------------------------------------
// Free space

/** Bytes the store may still take: free space for unprivileged writers minus the reserve. */
export async function storeHeadroom(dir: string): Promise<{ free: number; reserve: number; usable: number }> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const st = await statfs(dir);
  const free = Number(st.bavail) * Number(st.bsize);
  const reserve = Math.round(env().POLYARCH_IMAGE_STORE_RESERVE_GB * GiB);
  return { free, reserve, usable: Math.max(0, free - reserve) };
}

/** 507 when `bytes` more would eat into the reserve of the store's filesystem. */
export async function checkFreeSpace(dir: string, bytes: number, during = false): Promise<void> {
  const { free, reserve, usable } = await storeHeadroom(dir);
  if (during ? free >= reserve : bytes <= usable) return;
  throw new AppError({
    code: "insufficient_storage",
    message:
      `The controller's image store has ${fmtGiB(free)} free and keeps ${fmtGiB(reserve)} for the database` +
      (during ? "; the upload was stopped." : `; this upload needs ${fmtGiB(bytes)}.`) +
      " Delete unused images or ask an admin to free space.",
  });
}

// ---------------------------------------------------------------------------------------------
// Project quota

function projectWhere(projectId: string | null, exceptId?: string): Prisma.ImageWhereInput {
  const inProject: Prisma.ImageWhereInput =
    projectId === null || projectId === DEFAULT_PROJECT_ID
      ? { OR: [{ projectId: DEFAULT_PROJECT_ID }, { projectId: null }] }
      : { projectId };
  return exceptId ? { AND: [inProject, { NOT: { id: exceptId } }] } : inProject;
}

export interface ProjectQuota {
  name: string;
  /** 0 = unlimited */
  quotaBytes: number;
  usedBytes: number;
}

/** The quota of the image's project (its own, or POLYARCH_PROJECT_IMAGE_QUOTA_GB) and what its images use. */
export async function projectQuota(projectId: string | null, exceptId?: string): Promise<ProjectQuota> {
  const id = projectId ?? DEFAULT_PROJECT_ID;
  const project = await db().project.findUnique({ where: { id }, select: { name: true, imageQuotaBytes: true } });
  const quotaBytes =
    project?.imageQuotaBytes != null
      ? Number(project.imageQuotaBytes)
      : Math.round(env().POLYARCH_PROJECT_IMAGE_QUOTA_GB * GiB);
  if (quotaBytes <= 0) return { name: project?.name ?? id, quotaBytes: 0, usedBytes: 0 };
  const sum = await db().image.aggregate({ where: projectWhere(projectId, exceptId), _sum: { sizeBytes: true } });
  return { name: project?.name ?? id, quotaBytes, usedBytes: Number(sum._sum.sizeBytes ?? 0) };
}

/** 413 when `bytes` more would put the project over its image quota. */
export async function checkProjectQuota(projectId: string | null, bytes: number, exceptId?: string): Promise<void> {
  const q = await projectQuota(projectId, exceptId);
  if (q.quotaBytes === 0 || q.usedBytes + bytes <= q.quotaBytes) return;
  throw new AppError({
    code: "too_large",
    message:
      `Project ${q.name} uses ${fmtGiB(q.usedBytes)} of its ${fmtGiB(q.quotaBytes)} image quota; ` +
      `this image (${fmtGiB(bytes)}) does not fit. Delete images of the project or ask an admin to raise the quota.`,
  });
}

// ---------------------------------------------------------------------------------------------
// Concurrent uploads per user

/**
 * Called with the new image row already in the database (status uploading): the user's uploads
 * that are being received by a live controller, oldest first; this one may go on when it is among
 * the first POLYARCH_UPLOADS_PER_USER. Counting after inserting means two racing requests never
 * both pass the limit (at worst both are refused); rows of dead controllers do not count.
 */
export async function claimUploadSlot(ownerId: string, imageId: string, activeHere: (id: string) => boolean) {
  const limit = env().POLYARCH_UPLOADS_PER_USER;
  const rows = await db().image.findMany({
    where: { ownerId, status: "uploading" },
    orderBy: [{ createdAt: "asc" }, { id: "asc" }],
    select: { id: true, uploadControllerId: true },
  });
  const others = [...new Set(rows.map((r) => r.uploadControllerId).filter((c): c is string => !!c))].filter(
    (c) => c !== controllerId(),
  );
  const alive = others.length ? await liveControllers(others, await dbNowMs()) : new Set<string>();
  const running = rows.filter(
    (r) =>
      r.id === imageId ||
      activeHere(r.id) ||
      (r.uploadControllerId !== null && r.uploadControllerId !== controllerId() && alive.has(r.uploadControllerId)),
  );
  const before = running.findIndex((r) => r.id === imageId);
  if (before < limit) return;
  throw new AppError({
    code: "rate_limited",
    message: `You already have ${before} uploads running (at most ${limit} at once); wait for one to finish, then try again.`,
  });
}
