import "server-only";
import type { Caller } from "../platform";
// Projects and their members. Caller may see which VM is decided in lib/server/vms/access.ts; this
// module keeps the projects themselves: the default project (created on demand, backfilled at
// start), CRUD for admins (project:manage), and every mutation audited.
import { AppError } from "../../errors";
import {
  DEFAULT_PROJECT_ID,
  DEFAULT_PROJECT_NAME,
  type CreateProjectInput,
  type ProjectMemberInput,
  type UpdateProjectInput,
  type projectDtoSchema,
} from "../../schemas/projects";
import type { z } from "zod";
import { recordAudit } from "../platform";
import { db, isUniqueViolation } from "../platform";
import type { Actor } from "../platform";
import { logInfo } from "../platform";
import { serverHooks } from "../../server-hooks";

/** Set once the users of a database from before projects were put into the default project. */
export const BACKFILL_SETTING = "projects.default-backfill";

function prismaCode(error: unknown): string | null {
  return typeof error === "object" && error !== null && typeof (error as { code?: unknown }).code === "string"
    ? (error as { code: string }).code
    : null;
}

/** The default project (id "default"), created when missing; safe when several controllers race. */
export async function ensureDefaultProject(): Promise<{ id: string; name: string }> {
  const existing = await db().project.findUnique({
    where: { id: DEFAULT_PROJECT_ID },
    select: { id: true, name: true },
  });
  if (existing) return existing;
  try {
    return await db().project.create({
      data: {
        id: DEFAULT_PROJECT_ID,
        name: DEFAULT_PROJECT_NAME,
        description: "Where new users and VMs from before projects belong.",
      },
      select: { id: true, name: true },
    });
  } catch (error) {
    const again = await db().project.findUnique({
      where: { id: DEFAULT_PROJECT_ID },
      select: { id: true, name: true },
    });
    if (again) return again;
    if (isUniqueViolation(error)) {
      // Another project took the name "default": the default project keeps its id, not its name.
      return db().project.create({
        data: { id: DEFAULT_PROJECT_ID, name: `${DEFAULT_PROJECT_NAME}-${Date.now().toString(36)}` },
        select: { id: true, name: true },
      });
    }
    throw error;
  }
}

/**
 * Start-up step: VMs without a project join the default project (every start: rows written by
 * tools), and — once per database — every user who is in no project joins it, so a console that
 * existed before projects keeps working as before. Later removals from the default project stick.
 */
export async function backfillDefaultProject(): Promise<{ users: number; vms: number }> {
  const project = await ensureDefaultProject();
  const vms = await db().vm.updateMany({ where: { projectId: null }, data: { projectId: project.id } });
  let users = 0;
  if (!(await db().setting.findUnique({ where: { key: BACKFILL_SETTING } }))) {
    const orphans = await db().user.findMany({ where: { projectMemberships: { none: {} } }, select: { id: true } });
    for (const u of orphans) {
      await db().projectMember.upsert({
        where: { projectId_userId: { projectId: project.id, userId: u.id } },
        create: { projectId: project.id, userId: u.id },
        update: {},
      });
      users++;
    }
    await db().setting.upsert({
      where: { key: BACKFILL_SETTING },
      create: { key: BACKFILL_SETTING, value: new Date().toISOString() },
      update: {},
    });
  }
  if (users || vms.count) logInfo("default project backfilled", { users, vms: vms.count });
  return { users, vms: vms.count };
}

/** Puts a (new) user into projects; without a list, into the default project. */
export async function addUserToProjects(userId: string, projectIds?: readonly string[]): Promise<void> {
  const ids = projectIds ?? [DEFAULT_PROJECT_ID];
  if (ids.includes(DEFAULT_PROJECT_ID)) await ensureDefaultProject();
  for (const projectId of ids) {
    await db().projectMember.upsert({
      where: { projectId_userId: { projectId, userId } },
      create: { projectId, userId },
      update: {},
    });
  }
}

type ProjectRow = {
  id: string;
  name: string;
  description: string | null;
  createdAt: Date;
  imageQuotaBytes: bigint | null;
  _count: { vms: number; members: number };
  members?: Array<{ user: { id: string; email: string; name: string; role: string } }>;
};

/** The API shape (lib/schemas/projects.ts projectDtoSchema); Dates become ISO strings on the wire. */
function toProjectDto(p: ProjectRow, unassignedVms: number, imageBytes: Map<string | null, number>) {
  return {
    id: p.id,
    name: p.name,
    description: p.description,
    isDefault: p.id === DEFAULT_PROJECT_ID,
    // VMs without a project count as the default project's (vm-access.ts treats them so).
    vmCount: p._count.vms + (p.id === DEFAULT_PROJECT_ID ? unassignedVms : 0),
    memberCount: p._count.members,
    imageQuotaBytes: p.imageQuotaBytes === null ? null : Number(p.imageQuotaBytes),
    // Images without a project count as the default project's (images/visibility.ts treats them so).
    imageBytes: (imageBytes.get(p.id) ?? 0) + (p.id === DEFAULT_PROJECT_ID ? (imageBytes.get(null) ?? 0) : 0),
    createdAt: p.createdAt,
    ...(p.members ? { members: p.members.map((m) => m.user).sort((a, b) => a.email.localeCompare(b.email)) } : {}),
  } satisfies z.input<typeof projectDtoSchema>;
}
export type ProjectDto = ReturnType<typeof toProjectDto>;

const isAdmin = (actor: Pick<Actor, "role">) => actor.role === "admin";

const projectSelect = {
  id: true,
  name: true,
  description: true,
  createdAt: true,
  imageQuotaBytes: true,
  _count: { select: { vms: true, members: true } },
  members: { select: { user: { select: { id: true, email: true, name: true, role: true } } } },
} as const;

// Member lists (emails) are for admins; members see the project, not who else is in it.
function forActor<T extends ProjectRow>(actor: Pick<Actor, "role">, row: T): ProjectRow {
  return isAdmin(actor) ? row : { ...row, members: undefined };
}

/** Bytes of images per project id (null: images without a project), for the quota shown with each project. */
async function imageBytesByProject(): Promise<Map<string | null, number>> {
  const rows = await db().image.groupBy({ by: ["projectId"], _sum: { sizeBytes: true } });
  return new Map(rows.map((r) => [r.projectId, Number(r._sum.sizeBytes ?? 0)]));
}

/** Admins: every project. Others: the projects they are members of. */
export async function listProjects(actor: Actor): Promise<{ items: ProjectDto[]; total: number }> {
  const where = isAdmin(actor) ? {} : { members: { some: { userId: actor.id } } };
  const [rows, unassigned, bytes] = await Promise.all([
    db().project.findMany({ where, orderBy: [{ name: "asc" }, { id: "asc" }], take: 1000, select: projectSelect }),
    db().vm.count({ where: { projectId: null } }),
    imageBytesByProject(),
  ]);
  return { items: rows.map((r) => toProjectDto(forActor(actor, r), unassigned, bytes)), total: rows.length };
}

/** One project; a project the actor is not a member of does not exist for them (404). */
export async function getProject(actor: Actor, id: string): Promise<ProjectDto> {
  const where = isAdmin(actor) ? { id } : { id, members: { some: { userId: actor.id } } };
  const row = await db().project.findFirst({ where, select: projectSelect });
  if (!row) throw new AppError({ code: "not_found", message: `Project ${id} does not exist.` });
  return toProjectDto(
    forActor(actor, row),
    id === DEFAULT_PROJECT_ID ? await db().vm.count({ where: { projectId: null } }) : 0,
    await imageBytesByProject(),
  );
}

async function loadProject(id: string) {
  const project = await db().project.findUnique({ where: { id } });
  if (!project) throw new AppError({ code: "not_found", message: `Project ${id} does not exist.` });
  return project;
}

const nameTaken = (name: string) =>
  new AppError({ code: "conflict", message: `A project named ${name} already exists.` });

export async function createProject(input: CreateProjectInput, who: Caller): Promise<ProjectDto> {
  let id: string;
  try {
    ({ id } = await db().project.create({ data: { name: input.name, description: input.description } }));
  } catch (error) {
    if (isUniqueViolation(error)) throw nameTaken(input.name);
    throw error;
  }
  await recordAudit({
    actor: who.actor,
    action: "project.create",
    result: "success",
    targetType: "project",
    targetId: id,
    clientIp: who.clientIp,
    details: { name: input.name },
  });
  return getProject(who.actor, id);
}

export async function updateProject(id: string, input: UpdateProjectInput, who: Caller): Promise<ProjectDto> {
  const before = await loadProject(id);
  try {
    await db().project.update({
      where: { id },
      data: {
        ...(input.name !== undefined ? { name: input.name } : {}),
        ...(input.description !== undefined ? { description: input.description } : {}),
        // GiB as the admin typed them; null = the default quota (ADR 027).
        ...(input.imageQuotaGb !== undefined
          ? { imageQuotaBytes: input.imageQuotaGb === null ? null : BigInt(Math.round(input.imageQuotaGb * 1024 ** 3)) }
          : {}),
      },
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw nameTaken(input.name ?? "");
    throw error;
  }
  await recordAudit({
    actor: who.actor,
    action: "project.update",
    result: "success",
    targetType: "project",
    targetId: id,
    clientIp: who.clientIp,
    details: {
      ...(input.name !== undefined && input.name !== before.name ? { from: before.name, to: input.name } : {}),
      ...(input.description !== undefined ? { description: true } : {}),
      ...(input.imageQuotaGb !== undefined ? { imageQuotaGb: input.imageQuotaGb } : {}),
    },
  });
  return getProject(who.actor, id);
}

/** Only an empty project can be deleted (its VMs would lose their owners); the default one never. */
export async function deleteProject(id: string, who: Caller): Promise<{ id: string; deleted: true }> {
  const project = await loadProject(id);
  if (id === DEFAULT_PROJECT_ID)
    throw new AppError({
      code: "conflict",
      message: "The default project cannot be deleted: new users and VMs without a project belong to it.",
    });
  let count = 0;
  try {
    // The VM check and the delete are one statement; the foreign key (ON DELETE RESTRICT) also
    // refuses a VM created in between.
    ({ count } = await db().project.deleteMany({ where: { id, vms: { none: {} } } }));
  } catch (error) {
    if (prismaCode(error) !== "P2003") throw error;
  }
  if (count === 0) {
    // Images, networks, volumes and floating IPs of the project also block the delete (their foreign keys RESTRICT).
    const [vms, images, networks, volumes, floatingIps] = await Promise.all([
      db().vm.count({ where: { projectId: id } }),
      db().image.count({ where: { projectId: id } }),
      db().network.count({ where: { projectId: id } }),
      db().volume.count({ where: { projectId: id } }),
      db().floatingIp.count({ where: { projectId: id } }),
    ]);
    await recordAudit({
      actor: who.actor,
      action: "project.delete",
      result: "error",
      targetType: "project",
      targetId: id,
      clientIp: who.clientIp,
      details: { name: project.name, reason: "not empty", vms, images, networks, volumes, floatingIps },
    });
    const held = [
      [vms, "VM"],
      [images, "image"],
      [networks, "network"],
      [volumes, "volume"],
      [floatingIps, "floating IP"],
    ]
      .filter(([n]) => Number(n) > 0)
      .map(([n, what]) => `${n} ${what}${n === 1 ? "" : "s"}`);
    const total = vms + images + networks + volumes + floatingIps;
    throw new AppError({
      code: "conflict",
      message:
        `Project ${project.name} still has ${held.length ? held.join(", ") : "0 VMs"}; ` +
        `delete or move ${total === 1 ? "it" : "them"} first.`,
    });
  }
  await recordAudit({
    actor: who.actor,
    action: "project.delete",
    result: "success",
    targetType: "project",
    targetId: id,
    clientIp: who.clientIp,
    details: { name: project.name },
  });
  return { id, deleted: true };
}

async function loadUser(member: ProjectMemberInput) {
  const user = member.userId
    ? await db().user.findUnique({ where: { id: member.userId }, select: { id: true, email: true } })
    : member.email
      ? await db().user.findUnique({ where: { email: member.email }, select: { id: true, email: true } })
      : null;
  if (!user) throw new AppError({ code: "not_found", message: "That user does not exist." });
  return user;
}

export async function addProjectMember(
  id: string,
  member: ProjectMemberInput,
  who: Caller,
): Promise<{ projectId: string; userId: string; added: boolean }> {
  const project = await loadProject(id);
  const user = await loadUser(member);
  const existing = await db().projectMember.findUnique({
    where: { projectId_userId: { projectId: id, userId: user.id } },
  });
  if (!existing)
    await db().projectMember.upsert({
      where: { projectId_userId: { projectId: id, userId: user.id } },
      create: { projectId: id, userId: user.id },
      update: {},
    });
  await recordAudit({
    actor: who.actor,
    action: "project.member.add",
    result: "success",
    targetType: "project",
    targetId: id,
    clientIp: who.clientIp,
    details: { project: project.name, userId: user.id, email: user.email, alreadyMember: !!existing },
  });
  return { projectId: id, userId: user.id, added: !existing };
}

export async function removeProjectMember(
  id: string,
  member: ProjectMemberInput,
  who: Caller,
): Promise<{ projectId: string; userId: string; removed: true }> {
  const project = await loadProject(id);
  const user = await loadUser(member);
  const { count } = await db().projectMember.deleteMany({ where: { projectId: id, userId: user.id } });
  if (count === 0)
    throw new AppError({ code: "not_found", message: `${user.email} is not a member of project ${project.name}.` });
  // Their open consoles of this project's VMs close now on this controller; elsewhere within the 2 s re-check (ADR 029).
  serverHooks().consolesChanged?.();
  await recordAudit({
    actor: who.actor,
    action: "project.member.remove",
    result: "success",
    targetType: "project",
    targetId: id,
    clientIp: who.clientIp,
    details: { project: project.name, userId: user.id, email: user.email },
  });
  return { projectId: id, userId: user.id, removed: true };
}
