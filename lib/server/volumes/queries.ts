import "server-only";
// Reading volumes, and the one rule of who may see and change them: the VM rule (ADR 014) applied
// to the volume's project. A volume outside the caller's projects does not exist for them (404,
// the message of a missing one); a visible volume whose change the role does not grant is 403.
import type { z } from "zod";
import type { Arch } from "../../arch";
import { AppError } from "../../errors";
import { can, type Permission } from "../../permissions";
import { DEFAULT_PROJECT_ID } from "../../schemas/projects";
import type { volumeDtoSchema, volumeListQuery } from "../../schemas/volumes";
import { requirePermission } from "../identity";
import { db, recordAudit, type Actor } from "../platform";
import { projectScopeFor } from "../projects";
import { canSeeProject } from "../vms";

type VolumeDtoSource = z.input<typeof volumeDtoSchema>;
type Attempt = { action: string; clientIp?: string | null };

export const volumeNotFound = (id: string) =>
  new AppError({ code: "not_found", message: `Volume ${id} does not exist.` });

/** Statuses that only make sense while attached: a volume whose VM was deleted under it is available. */
const ATTACHED_STATES = new Set(["in-use", "attaching", "detaching"]);

export const volumeInclude = {
  host: { select: { id: true, name: true, arch: true } },
  vm: { select: { id: true, name: true } },
  image: { select: { id: true, name: true } },
  project: { select: { id: true, name: true } },
} as const;

type VolumeRow = {
  id: string;
  name: string;
  sizeGb: number;
  status: string;
  lastError: string | null;
  vmId: string | null;
  ownerId: string | null;
  createdAt: Date;
  updatedAt: Date;
  host: { id: string; name: string; arch: string } | null;
  vm: { id: string; name: string } | null;
  image: { id: string; name: string } | null;
  project: { id: string; name: string } | null;
};

/** The API shape (lib/schemas/volumes.ts volumeDtoSchema). */
export function toVolumeDto(v: VolumeRow) {
  const status = !v.vm && ATTACHED_STATES.has(v.status) ? "available" : v.status;
  return {
    id: v.id,
    name: v.name,
    sizeGb: v.sizeGb,
    status: status as VolumeDtoSource["status"],
    lastError: v.lastError,
    host: v.host ? { id: v.host.id, name: v.host.name, arch: v.host.arch as Arch } : null,
    vm: v.vm ? { id: v.vm.id, name: v.vm.name } : null,
    image: v.image ? { id: v.image.id, name: v.image.name } : null,
    project: v.project ? { id: v.project.id, name: v.project.name } : null,
    ownerId: v.ownerId,
    createdAt: v.createdAt,
    updatedAt: v.updatedAt,
  } satisfies VolumeDtoSource;
}
export type VolumeDto = ReturnType<typeof toVolumeDto>;

export async function getVolume(id: string): Promise<VolumeDto> {
  const row = await db().volume.findUnique({ where: { id }, include: volumeInclude });
  if (!row) throw volumeNotFound(id);
  return toVolumeDto(row);
}

/** The volumes the actor may see (their projects'; admins: all), by name. */
export async function listVolumes(actor: Actor, query: z.output<typeof volumeListQuery> = {}) {
  const scope = await projectScopeFor(actor);
  const rows = await db().volume.findMany({
    where: {
      AND: [
        scope,
        query.hostId ? { hostId: query.hostId } : {},
        query.vmId ? { vmId: query.vmId } : {},
        query.projectId
          ? query.projectId === DEFAULT_PROJECT_ID
            ? { OR: [{ projectId: query.projectId }, { projectId: null }] }
            : { projectId: query.projectId }
          : {},
      ],
    },
    include: volumeInclude,
    orderBy: [{ name: "asc" }, { createdAt: "asc" }],
  });
  return { items: rows.map(toVolumeDto) };
}

/** The volumes attached to a VM, in the order its spec lists them (spec.ts). */
export async function volumesOfVm(vmId: string): Promise<VolumeDto[]> {
  const rows = await db().volume.findMany({
    where: { vmId },
    include: volumeInclude,
    orderBy: [{ createdAt: "asc" }, { id: "asc" }],
  });
  return rows.map(toVolumeDto);
}

/**
 * The volume row if the actor may see it and their role grants `permission`: not_found when it is
 * missing or outside their projects (audited when it exists), forbidden when the role lacks it.
 */
export async function requireVolumeAccess(actor: Actor, id: string, permission: Permission, attempt?: Attempt) {
  const volume = await db().volume.findUnique({ where: { id } });
  if (!volume) throw volumeNotFound(id);
  if (!(await canSeeProject(actor, volume.projectId))) {
    await recordAudit({
      actor,
      action: attempt?.action ?? "volume.access",
      result: "denied",
      targetType: "volume",
      targetId: id,
      clientIp: attempt?.clientIp,
      details: {
        reason: "not a member of the volume's project",
        projectId: volume.projectId ?? DEFAULT_PROJECT_ID,
        permission,
        role: actor.role,
      },
    });
    throw volumeNotFound(id);
  }
  if (!can(actor.role, permission))
    await requirePermission(actor, permission, {
      action: attempt?.action ?? "volume.access",
      targetType: "volume",
      targetId: id,
      clientIp: attempt?.clientIp,
    });
  return volume;
}
