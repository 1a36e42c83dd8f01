import "server-only";
import { z } from "zod";
import { imageListQuery } from "../../schemas/entities";
import type { ListResult } from "../../schemas/list";
import { db } from "../platform";
import { nameSearch, pageArgs } from "../platform";
import type { Image } from "../../generated/sqlite/client";
import type { imageDtoSchema } from "../../schemas/api";
import type { Actor } from "../platform";
import { imageNotFound, imageScopeFor, requireVisibleImage } from "./visibility";

type ImageDtoSource = z.input<typeof imageDtoSchema>;

export type ImageDto = ReturnType<typeof toImageDto>;

/** The API shape (lib/schemas/api.ts imageDtoSchema); Dates become ISO strings on the wire. */
export function toImageDto(i: Image & { _count?: { vms: number } }) {
  return {
    id: i.id,
    name: i.name,
    family: i.family,
    arch: i.arch as ImageDtoSource["arch"],
    format: i.format as ImageDtoSource["format"],
    sizeBytes: Number(i.sizeBytes),
    virtualSize: Number(i.virtualSize),
    sha256: i.sha256,
    firmware: i.firmware as ImageDtoSource["firmware"],
    status: i.status as ImageDtoSource["status"],
    visibility: i.visibility as ImageDtoSource["visibility"],
    projectId: i.projectId,
    cmdline: i.cmdline,
    minDiskGb: i.minDiskGb,
    minMemoryMb: i.minMemoryMb,
    error: i.error,
    ownerId: i.ownerId,
    vmCount: i._count?.vms,
    createdAt: i.createdAt,
  } satisfies ImageDtoSource;
}

/** The images the actor may see (lib/server/images/visibility.ts), filtered, sorted and paged. */
export async function listImages(
  query: z.output<typeof imageListQuery>,
  actor: Pick<Actor, "id" | "email" | "role">,
): Promise<ListResult<ImageDto>> {
  const where = {
    AND: [await imageScopeFor(actor)],
    ...(query.arch ? { arch: query.arch } : {}),
    ...(query.status ? { status: query.status } : {}),
    ...nameSearch(query.q),
  };
  const [rows, total] = await Promise.all([
    db().image.findMany({
      where,
      orderBy: [{ [query.sort]: query.dir }, { id: "asc" }],
      ...pageArgs(query.page, query.pageSize),
      include: { _count: { select: { vms: true } } },
    }),
    db().image.count({ where }),
  ]);
  return { items: rows.map(toImageDto), total, page: query.page, pageSize: query.pageSize };
}

/** One image by id, without a visibility check: for the domain's own callers after their check. */
export async function getImage(id: string): Promise<ImageDto> {
  const row = await db().image.findUnique({ where: { id }, include: { _count: { select: { vms: true } } } });
  if (!row) throw imageNotFound(id);
  return toImageDto(row);
}

/** One image for the actor: 404, as for a missing one, when they may not see it. */
export async function getVisibleImage(id: string, actor: Pick<Actor, "id" | "email" | "role">): Promise<ImageDto> {
  await requireVisibleImage(actor, id);
  return getImage(id);
}
