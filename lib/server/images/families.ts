import "server-only";
// Image families: one name ("debian-12") with one build per architecture, as Incus aliases do.
// VM creation resolves a family to the ready build for the chosen arch; with "any" architecture
// it learns which arches have a ready build, so the scheduler can pick one with capacity.
// Every lookup sees only the builds the actor may see (visibility.ts): a family whose builds are
// all invisible does not exist for them, and a family never resolves to someone else's private build.
import { ARCHES, type Arch } from "../../arch";
import { AppError } from "../../errors";
import type { FamilyBuild, ImageFamilyDto } from "../../schemas/images";
import { db } from "../platform";
import type { Actor } from "../platform";
import { toImageDto, type ImageDto } from "./catalog";
import { imageScopeFor } from "./visibility";

type ActorRef = Pick<Actor, "id" | "email" | "role">;

const archOrder = (a: string) => {
  const i = (ARCHES as readonly string[]).indexOf(a);
  return i < 0 ? ARCHES.length : i;
};

function group(
  rows: { family: string | null; arch: string; id: string; name: string; status: string }[],
): ImageFamilyDto[] {
  const byFamily = new Map<string, FamilyBuild[]>();
  for (const r of rows) {
    if (!r.family) continue;
    const builds = byFamily.get(r.family) ?? [];
    builds.push({ arch: r.arch as Arch, imageId: r.id, name: r.name, status: r.status as FamilyBuild["status"] });
    byFamily.set(r.family, builds);
  }
  return [...byFamily.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([family, builds]) => ({ family, builds: builds.sort((x, y) => archOrder(x.arch) - archOrder(y.arch)) }));
}

const buildSelect = { id: true, name: true, family: true, arch: true, status: true } as const;

export async function listImageFamilies(actor: ActorRef): Promise<ImageFamilyDto[]> {
  return group(
    await db().image.findMany({
      where: { AND: [await imageScopeFor(actor), { family: { not: null } }] },
      select: buildSelect,
      orderBy: [{ family: "asc" }],
    }),
  );
}

export async function getImageFamily(family: string, actor: ActorRef): Promise<ImageFamilyDto> {
  const [found] = group(
    await db().image.findMany({ where: { AND: [await imageScopeFor(actor), { family }] }, select: buildSelect }),
  );
  if (!found) throw new AppError({ code: "not_found", message: `Image family "${family}" does not exist.` });
  return found;
}

/**
 * The ready build of `family` for `arch`; for "any", the arches that have a ready build (in
 * canonical order). Throws not_found for an unknown family and unprocessable, naming the arches
 * that do exist, when the asked arch has no ready build.
 */
export async function resolveFamily(family: string, arch: Arch, actor: ActorRef): Promise<ImageDto>;
export async function resolveFamily(family: string, arch: "any", actor: ActorRef): Promise<Arch[]>;
export async function resolveFamily(family: string, arch: Arch | "any", actor: ActorRef): Promise<ImageDto | Arch[]>;
export async function resolveFamily(family: string, arch: Arch | "any", actor: ActorRef): Promise<ImageDto | Arch[]> {
  const rows = await db().image.findMany({
    where: { AND: [await imageScopeFor(actor), { family }] },
    include: { _count: { select: { vms: true } } },
  });
  if (rows.length === 0) throw new AppError({ code: "not_found", message: `Image family "${family}" does not exist.` });
  const ready = rows.filter((r) => r.status === "ready" && (ARCHES as readonly string[]).includes(r.arch));
  const readyArches = ARCHES.filter((a) => ready.some((r) => r.arch === a));
  if (arch === "any") {
    if (readyArches.length === 0)
      throw new AppError({ code: "unprocessable", message: `Image family "${family}" has no ready build yet.` });
    return readyArches;
  }
  const build = ready.find((r) => r.arch === arch);
  if (build) return toImageDto(build);
  const pending = rows.find((r) => r.arch === arch);
  if (pending)
    throw new AppError({
      code: "unprocessable",
      message: `The ${arch} build of image family "${family}" (${pending.name}) is ${pending.status}, not ready.`,
    });
  throw new AppError({
    code: "unprocessable",
    message:
      `Image family "${family}" has no ${arch} build${readyArches.length ? `; it has ${readyArches.join(", ")}` : ""}. ` +
      `Upload an ${arch} build, or choose ${readyArches.length ? readyArches.join(" or ") : "another image"}.`,
  });
}
