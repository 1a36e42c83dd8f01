import "server-only";
import type { Caller } from "../platform";
// Which hosts hold a cached copy of which image (HostImage): kept in step with the agents'
// heartbeats, shown on the image page, and evicted through the agent.
import { AppError } from "../../errors";
import type { Arch } from "../../arch";
import type { HostImageReport } from "../../schemas/agent-api";
import type { ImageEvictResult, ImageHostDto } from "../../schemas/host-images";
import { agentClient } from "../hosts";
import { recordAudit } from "../platform";
import { db } from "../platform";
import { logError } from "../platform";
import type { Actor } from "../platform";
import { requireVisibleImage, vmScopeForImages } from "./visibility";

// Keeps `IN (...)` lists well under SQLite's and PostgreSQL's bound-parameter limits.
const CHUNK = 500;

function chunks<T>(items: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, i + CHUNK));
  return out;
}

/**
 * Mirrors a heartbeat's image list into HostImage: upserts what the host reports, deletes rows for
 * images it no longer has. `undefined` (an agent older than this field) leaves the rows alone.
 * Never throws: the cache view is secondary to the heartbeat that carries it.
 */
export async function syncHostImages(hostId: string, reported: HostImageReport[] | undefined): Promise<void> {
  if (!reported) return;
  try {
    const ids = [...new Set(reported.map((r) => r.imageId))];
    const existing = new Map((await db().hostImage.findMany({ where: { hostId } })).map((r) => [r.imageId, r]));
    // The agent may still hold the copy of an image deleted here; no row for it (foreign key). An
    // image with a HostImage row exists (the row goes with it: cascade), so the steady state, every
    // image already recorded, costs no look-up.
    const known = new Set(ids.filter((id) => existing.has(id)));
    for (const part of chunks(ids.filter((id) => !known.has(id)))) {
      for (const i of await db().image.findMany({ where: { id: { in: part } }, select: { id: true } })) known.add(i.id);
    }
    const wanted = new Map(reported.filter((r) => known.has(r.imageId)).map((r) => [r.imageId, r]));
    // Write only what changed: heartbeats come every few seconds, and updatedAt then means
    // "last change" (e.g. when the download finished).
    for (const r of wanted.values()) {
      const row = existing.get(r.imageId);
      if (row && row.state === r.state && Number(row.sizeBytes) === r.sizeBytes) continue;
      const data = { state: r.state, sizeBytes: BigInt(r.sizeBytes) };
      await db().hostImage.upsert({
        where: { hostId_imageId: { hostId, imageId: r.imageId } },
        create: { hostId, imageId: r.imageId, ...data },
        update: data,
      });
    }
    const gone = [...existing.keys()].filter((id) => !wanted.has(id));
    for (const part of chunks(gone)) await db().hostImage.deleteMany({ where: { hostId, imageId: { in: part } } });
  } catch (error) {
    logError("host image records not updated", error, { hostId, reported: reported.length });
  }
}

/**
 * Hosts holding a copy of the image, with the VMs there that keep it in use. The image must be
 * visible to the actor (404 otherwise); `usedBy` names only VMs of projects the actor may see, while
 * `inUse` still counts every VM (it is why an eviction would be refused).
 */
export async function listImageHosts(
  imageId: string,
  actor: Pick<Actor, "id" | "email" | "role">,
): Promise<{ items: ImageHostDto[] }> {
  await requireVisibleImage(actor, imageId);
  const rows = await db().hostImage.findMany({
    where: { imageId },
    include: { host: { select: { id: true, name: true, arch: true, status: true } } },
    orderBy: { host: { name: "asc" } },
  });
  const hostIds = rows.map((r) => r.hostId);
  // The controller's own placement says which VMs boot from it there (HostImage has no column
  // for the agent's flag); the agent re-checks on eviction anyway.
  const scope = await vmScopeForImages(actor);
  const vms = hostIds.length
    ? await db().vm.findMany({
        where: { imageId, hostId: { in: hostIds } },
        select: { id: true, name: true, hostId: true },
        orderBy: { name: "asc" },
      })
    : [];
  const visible = new Set(
    hostIds.length
      ? (
          await db().vm.findMany({
            where: { AND: [scope, { imageId, hostId: { in: hostIds } }] },
            select: { id: true },
          })
        ).map((v) => v.id)
      : [],
  );
  return {
    items: rows.map((r) => {
      const here = vms.filter((v) => v.hostId === r.hostId);
      const usedBy = here.filter((v) => visible.has(v.id)).map((v) => ({ id: v.id, name: v.name }));
      return {
        hostId: r.hostId,
        hostName: r.host.name,
        arch: r.host.arch as Arch,
        hostStatus: r.host.status,
        state: r.state as ImageHostDto["state"],
        sizeBytes: Number(r.sizeBytes),
        inUse: here.length > 0,
        usedBy,
        updatedAt: r.updatedAt.toISOString(),
      };
    }),
  };
}

const vmList = (vms: Array<{ name: string }>) =>
  `${vms.length === 1 ? "VM" : "VMs"} ${vms.map((v) => v.name).join(", ")}`;

/**
 * Removes an image's cached copy from one host (DELETE /v1/images/:id on its agent), then its
 * record. Refused while a VM there boots from it. Not cached on the host counts as done.
 */
export async function evictImageFromHost(imageId: string, hostId: string, who: Caller): Promise<ImageEvictResult> {
  const image = await requireVisibleImage(who.actor, imageId, { action: "image.evict", clientIp: who.clientIp });
  const host = await db().host.findUnique({
    where: { id: hostId },
    select: { id: true, name: true, agentUrl: true, tokenGeneration: true },
  });
  if (!host) throw new AppError({ code: "not_found", message: `Host ${hostId} does not exist.` });
  const audit = (result: "success" | "error", details: Record<string, unknown>) =>
    recordAudit({
      actor: who.actor,
      action: "image.evict",
      result,
      targetType: "image",
      targetId: imageId,
      clientIp: who.clientIp,
      details: { name: image.name, hostId, hostName: host.name, ...details },
    });

  try {
    // Checked here first, so the refusal names VMs as the console knows them.
    const users = await db().vm.findMany({
      where: { imageId, hostId },
      select: { id: true, name: true },
      orderBy: { name: "asc" },
    });
    if (users.length) {
      // Names only the VMs the actor may see; the others are counted.
      const seen = new Set(
        (
          await db().vm.findMany({
            where: { AND: [await vmScopeForImages(who.actor), { imageId, hostId }] },
            select: { id: true },
          })
        ).map((v) => v.id),
      );
      const named = users.filter((u) => seen.has(u.id));
      const hidden = users.length - named.length;
      const holders = [
        ...(named.length ? [vmList(named)] : []),
        ...(hidden ? [`${hidden} VM${hidden === 1 ? "" : "s"} of other projects`] : []),
      ].join(" and ");
      throw new AppError({
        code: "conflict",
        message:
          `Image ${image.name} is in use on host ${host.name} by ${holders}; ` +
          `${users.length === 1 ? "it" : "they"} must be deleted before the image can be evicted.`,
      });
    }
    let evicted = true;
    let freedBytes = 0;
    try {
      freedBytes = (await agentClient.evictImage(host, imageId)).freedBytes;
    } catch (error) {
      if (!(error instanceof AppError)) throw error;
      if (error.code === "not_found")
        evicted = false; // already gone there: just drop our record
      else if (error.code === "conflict") {
        // The agent knows a VM the console does not (or one being created): its message names it.
        const why = error.message.replace(`Host ${host.name}: `, "");
        throw new AppError({
          code: "conflict",
          message: `Image ${image.name} cannot be evicted from host ${host.name}: ${why}.`,
        });
      } else throw error;
    }
    await db().hostImage.deleteMany({ where: { hostId, imageId } });
    await audit("success", { freedBytes, wasCached: evicted });
    return { imageId, hostId, evicted, freedBytes };
  } catch (error) {
    if (error instanceof AppError) await audit("error", { reason: error.message });
    throw error;
  }
}
