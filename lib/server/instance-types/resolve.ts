import "server-only";
// The one read VM create makes of an instance type (inside validateCreate, no transaction of its own):
// by id or by name, checked against the VM's arch.
import { AppError } from "../../errors";
import { typeFitsArch, wrongArchMessage } from "../../instance-type-size";
import { db } from "../platform";

export type ResolvedInstanceType = { id: string; name: string; vcpus: number; memoryMb: number; diskGb: number };

/** The type named `ref` (id or name) for a VM of `arch`: 422 when it does not exist or is for another arch. */
export async function resolveInstanceType(ref: string, arch: string): Promise<ResolvedInstanceType> {
  const rows = await db().instanceType.findMany({
    where: { OR: [{ id: ref }, { name: ref }] },
    select: { id: true, name: true, vcpus: true, memoryMb: true, diskGb: true, arch: true },
    take: 2,
  });
  // An id wins over a name that happens to spell another type's id.
  const row = rows.find((r) => r.id === ref) ?? rows[0];
  if (!row)
    throw new AppError({
      code: "unprocessable",
      message: `Instance type ${ref} does not exist; list them with GET /api/v1/instance-types?arch=${arch}.`,
    });
  if (!typeFitsArch(row, arch))
    throw new AppError({ code: "unprocessable", message: wrongArchMessage({ name: row.name, arch: row.arch! }, arch) });
  return { id: row.id, name: row.name, vcpus: row.vcpus, memoryMb: row.memoryMb, diskGb: row.diskGb };
}
