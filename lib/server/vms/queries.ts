import "server-only";
import { z } from "zod";
import { AppError } from "../../errors";
import type { Arch } from "../../arch";
import { vmListQuery } from "../../schemas/entities";
import type { ListResult } from "../../schemas/list";
import { DEFAULT_PROJECT_ID } from "../../schemas/projects";
import { db } from "../platform";
import { nameSearch, pageArgs } from "../platform";
import type { Actor } from "../platform";
import { vmScopeFor } from "./access";
import type { Vm } from "../../generated/sqlite/client";
import { effectiveDisplay } from "../../display";
import { vmDrift } from "../../vm-drift";
import { hostnameFromName } from "../../hostname";
import type { vmDtoSchema } from "../../schemas/api";
import type { vmEventDtoSchema } from "../../schemas/vms";

type VmDtoSource = z.input<typeof vmDtoSchema>;

export type VmDto = ReturnType<typeof toVmDto>;

/** The API shape (lib/schemas/api.ts vmDtoSchema); Dates become ISO strings on the wire. */
export function toVmDto(
  v: Vm & {
    host?: { id: string; name: string; arch: string } | null;
    image?: { id: string; name: string; format?: string } | null;
    project?: { id: string; name: string } | null;
    instanceType?: { id: string; name: string } | null;
  },
) {
  return {
    id: v.id,
    name: v.name,
    hostname: v.hostname ?? hostnameFromName(v.name),
    arch: v.arch as Arch,
    vcpus: v.vcpus,
    memoryMb: v.memoryMb,
    diskGb: v.diskGb,
    status: v.status as VmDtoSource["status"],
    powerState: v.powerState as VmDtoSource["powerState"],
    desiredState: v.desiredState as VmDtoSource["desiredState"],
    emulated: v.emulated,
    allowEmulation: v.allowEmulation,
    lastError: v.lastError,
    host: v.host ? { id: v.host.id, name: v.host.name, arch: v.host.arch as Arch } : null,
    image: v.image ? { id: v.image.id, name: v.image.name } : null,
    /** graphical display (ADR 013): "none" = serial console only */
    display: effectiveDisplay(v.arch as Arch, v.display, v.image?.format ? { format: v.image.format } : null),
    project: v.project ? { id: v.project.id, name: v.project.name } : null,
    instanceType: v.instanceType ? { id: v.instanceType.id, name: v.instanceType.name } : null,
    ownerId: v.ownerId,
    machineType: v.machineType,
    cpuModel: v.cpuModel,
    generation: v.generation,
    ha: v.ha,
    migratingToHostId: v.migratingToHostId,
    drift: vmDrift(v),
    createdAt: v.createdAt,
    updatedAt: v.updatedAt,
  } satisfies VmDtoSource;
}

const include = {
  host: { select: { id: true, name: true, arch: true } },
  image: { select: { id: true, name: true, format: true } },
  project: { select: { id: true, name: true } },
  instanceType: { select: { id: true, name: true } },
} as const;

// A VM without a project belongs to the default project (see vm-access.ts).
const projectFilter = (projectId: string | undefined) =>
  !projectId ? {} : projectId === DEFAULT_PROJECT_ID ? { OR: [{ projectId }, { projectId: null }] } : { projectId };

/** The VMs the actor may see (lib/server/vms/access.ts), filtered and paged. */
export async function listVms(
  query: z.output<typeof vmListQuery>,
  actor: Pick<Actor, "id" | "email" | "role">,
): Promise<ListResult<VmDto>> {
  const filters = {
    ...projectFilter(query.projectId),
    ...(query.arch ? { arch: query.arch } : {}),
    ...(query.status ? { status: query.status } : {}),
    ...(query.hostId ? { hostId: query.hostId } : {}),
    ...nameSearch(query.q),
  };
  const where = { AND: [await vmScopeFor(actor), filters] };
  const [rows, total] = await Promise.all([
    db().vm.findMany({
      where,
      orderBy: [{ [query.sort]: query.dir }, { id: "asc" }],
      ...pageArgs(query.page, query.pageSize),
      include,
    }),
    db().vm.count({ where }),
  ]);
  return { items: rows.map(toVmDto), total, page: query.page, pageSize: query.pageSize };
}

export async function getVm(id: string): Promise<VmDto> {
  const row = await db().vm.findUnique({ where: { id }, include });
  if (!row) throw new AppError({ code: "not_found", message: `VM ${id} does not exist.` });
  return toVmDto(row);
}

/** The VM's own audit trail, newest first (the full audit log stays admin-only). Access is the caller's check. */
export async function listVmEvents(id: string, take = 50) {
  const rows = await db().auditEvent.findMany({
    where: { targetType: "vm", targetId: id },
    orderBy: [{ createdAt: "desc" }, { id: "desc" }],
    take,
    select: { id: true, createdAt: true, userEmail: true, action: true, result: true, details: true },
  });
  return rows.map(
    (r) =>
      ({ ...r, result: r.result as z.input<typeof vmEventDtoSchema>["result"] }) satisfies z.input<
        typeof vmEventDtoSchema
      >,
  );
}
