import "server-only";
// Instance types (ADR 050): admin-defined VM sizes, optionally limited to one arch. Everyone signed in
// lists them (the wizard offers them); only admins change them (instanceType:manage), every change
// audited. Deleting a type that VMs were created from is allowed: the VMs keep their sizes (copied at
// create) and their instanceTypeId becomes null (onDelete SetNull).
import type { z } from "zod";
import { AppError } from "../../errors";
import type {
  CreateInstanceTypeInput,
  UpdateInstanceTypeInput,
  instanceTypeDtoSchema,
} from "../../schemas/instance-types";
import { db, isUniqueViolation, recordAudit, type Caller } from "../platform";

type InstanceTypeRow = {
  id: string;
  name: string;
  vcpus: number;
  memoryMb: number;
  diskGb: number;
  arch: string | null;
  description: string | null;
  createdAt: Date;
  updatedAt: Date;
  _count?: { vms: number };
};

/** The API shape (lib/schemas/instance-types.ts instanceTypeDtoSchema); Dates become ISO strings on the wire. */
export function toInstanceTypeDto(t: InstanceTypeRow) {
  return {
    id: t.id,
    name: t.name,
    vcpus: t.vcpus,
    memoryMb: t.memoryMb,
    diskGb: t.diskGb,
    arch: t.arch === "x86_64" || t.arch === "aarch64" ? t.arch : null,
    description: t.description,
    vmCount: t._count?.vms ?? 0,
    createdAt: t.createdAt,
    updatedAt: t.updatedAt,
  } satisfies z.input<typeof instanceTypeDtoSchema>;
}
export type InstanceTypeDto = ReturnType<typeof toInstanceTypeDto>;

const withCount = { _count: { select: { vms: true } } } as const;

/** Every type, or with `arch` only those a VM of that arch may use (arch null or equal); smallest first. */
export async function listInstanceTypes(query: { arch?: string } = {}) {
  const rows = await db().instanceType.findMany({
    where: query.arch ? { OR: [{ arch: null }, { arch: query.arch }] } : {},
    include: withCount,
    orderBy: [{ vcpus: "asc" }, { memoryMb: "asc" }, { diskGb: "asc" }, { name: "asc" }],
  });
  return { items: rows.map(toInstanceTypeDto), total: rows.length };
}

function notFound(id: string): AppError {
  return new AppError({ code: "not_found", message: `Instance type ${id} does not exist.` });
}

export async function getInstanceType(id: string): Promise<InstanceTypeDto> {
  const row = await db().instanceType.findUnique({ where: { id }, include: withCount });
  if (!row) throw notFound(id);
  return toInstanceTypeDto(row);
}

function nameTaken(name: string): AppError {
  return new AppError({ code: "conflict", message: `An instance type named ${name} already exists.` });
}

export async function createInstanceType(input: CreateInstanceTypeInput, who: Caller): Promise<InstanceTypeDto> {
  let row;
  try {
    row = await db().instanceType.create({ data: input, include: withCount });
  } catch (error) {
    if (isUniqueViolation(error)) throw nameTaken(input.name);
    throw error;
  }
  await recordAudit({
    actor: who.actor,
    action: "instanceType.create",
    result: "success",
    targetType: "instanceType",
    targetId: row.id,
    clientIp: who.clientIp,
    details: { name: row.name, vcpus: row.vcpus, memoryMb: row.memoryMb, diskGb: row.diskGb, arch: row.arch },
  });
  return toInstanceTypeDto(row);
}

/** Changes apply to VMs created afterwards; existing VMs keep the sizes they were created with. */
export async function updateInstanceType(
  id: string,
  input: UpdateInstanceTypeInput,
  who: Caller,
): Promise<InstanceTypeDto> {
  const before = await db().instanceType.findUnique({ where: { id } });
  if (!before) throw notFound(id);
  const data = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
  let row;
  try {
    row = await db().instanceType.update({ where: { id }, data, include: withCount });
  } catch (error) {
    if (isUniqueViolation(error)) throw nameTaken(input.name ?? before.name);
    throw error;
  }
  await recordAudit({
    actor: who.actor,
    action: "instanceType.update",
    result: "success",
    targetType: "instanceType",
    targetId: id,
    clientIp: who.clientIp,
    details: { name: row.name, changed: Object.keys(data) },
  });
  return toInstanceTypeDto(row);
}

/** Allowed while VMs use the type (ADR 050): they keep their sizes, their instanceTypeId becomes null. */
export async function deleteInstanceType(id: string, who: Caller): Promise<{ id: string; deleted: true }> {
  const before = await db().instanceType.findUnique({ where: { id }, include: withCount });
  if (!before) throw notFound(id);
  const gone = await db().instanceType.deleteMany({ where: { id } });
  if (gone.count === 0) throw notFound(id);
  await recordAudit({
    actor: who.actor,
    action: "instanceType.delete",
    result: "success",
    targetType: "instanceType",
    targetId: id,
    clientIp: who.clientIp,
    details: { name: before.name, vmsDetached: before._count.vms },
  });
  return { id, deleted: true };
}
