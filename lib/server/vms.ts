import "server-only";
import { z } from "zod";
import { AppError } from "../errors";
import type { Arch } from "../arch";
import { vmListQuery } from "../schemas/entities";
import type { ListResult } from "../schemas/list";
import { db } from "./db";
import { nameSearch, pageArgs } from "./list";
import type { Vm } from "../generated/sqlite/client";

export type VmDto = ReturnType<typeof toVmDto>;

export function toVmDto(v: Vm & { host?: { id: string; name: string; arch: string } | null; image?: { id: string; name: string } | null }) {
  return {
    id: v.id,
    name: v.name,
    arch: v.arch as Arch,
    vcpus: v.vcpus,
    memoryMb: v.memoryMb,
    diskGb: v.diskGb,
    status: v.status,
    powerState: v.powerState,
    desiredState: v.desiredState,
    emulated: v.emulated,
    allowEmulation: v.allowEmulation,
    lastError: v.lastError,
    host: v.host ? { id: v.host.id, name: v.host.name, arch: v.host.arch as Arch } : null,
    image: v.image ? { id: v.image.id, name: v.image.name } : null,
    ownerId: v.ownerId,
    createdAt: v.createdAt,
    updatedAt: v.updatedAt,
  };
}

const include = { host: { select: { id: true, name: true, arch: true } }, image: { select: { id: true, name: true } } } as const;

export async function listVms(query: z.output<typeof vmListQuery>): Promise<ListResult<VmDto>> {
  const where = { ...(query.arch ? { arch: query.arch } : {}), ...(query.status ? { status: query.status } : {}), ...(query.hostId ? { hostId: query.hostId } : {}), ...nameSearch(query.q) };
  const [rows, total] = await Promise.all([
    db().vm.findMany({ where, orderBy: [{ [query.sort]: query.dir }, { id: "asc" }], ...pageArgs(query.page, query.pageSize), include }),
    db().vm.count({ where }),
  ]);
  return { items: rows.map(toVmDto), total, page: query.page, pageSize: query.pageSize };
}

export async function getVm(id: string): Promise<VmDto> {
  const row = await db().vm.findUnique({ where: { id }, include });
  if (!row) throw new AppError({ code: "not_found", message: `VM ${id} does not exist.` });
  return toVmDto(row);
}
