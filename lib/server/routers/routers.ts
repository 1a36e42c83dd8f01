import "server-only";
// Routers (issue 18, ADR 059): a network's way to an external network — SNAT for its VMs and DNAT for
// floating IPs. One router per network; who may change the network may give it a router. The router
// runs on every host with VMs on the network (ADR 058); sync.ts pushes it there.
import { AppError } from "../../errors";
import { cidrsOverlap } from "../../ipam";
import type { CreateRouterInput, RouterDto, UpdateRouterInput } from "../../schemas/routers";
import { db, isUniqueViolation, logError, recordAudit, type Actor, type Caller } from "../platform";
import { canSeeNetwork, networkScopeFor, requireChangeableNetwork } from "../networks";
import { deny, externalNetworkNotFound, routerNotFound } from "./access";
import { removeRouterFromHosts, syncRouters } from "./sync";

type ActorRef = Pick<Actor, "id" | "email" | "role">;

const include = {
  network: { select: { name: true, projectId: true } },
  externalNetwork: { select: { name: true } },
  ports: {
    select: {
      hostId: true,
      address: true,
      appliedSpec: true,
      appliedAt: true,
      error: true,
      host: { select: { name: true } },
    },
    orderBy: { createdAt: "asc" },
  },
} as const;

type Row = {
  id: string;
  name: string;
  networkId: string;
  externalNetworkId: string;
  snat: boolean;
  createdAt: Date;
  updatedAt: Date;
  network: { name: string; projectId: string | null };
  externalNetwork: { name: string };
  ports: Array<{
    hostId: string;
    address: string;
    appliedSpec: string | null;
    appliedAt: Date | null;
    error: string | null;
    host: { name: string };
  }>;
};

function toDto(r: Row): RouterDto {
  return {
    id: r.id,
    name: r.name,
    networkId: r.networkId,
    networkName: r.network.name,
    projectId: r.network.projectId,
    externalNetworkId: r.externalNetworkId,
    externalNetworkName: r.externalNetwork.name,
    snat: r.snat,
    ports: r.ports.map((p) => ({
      hostId: p.hostId,
      hostName: p.host.name,
      address: p.address,
      state: p.error ? "error" : p.appliedSpec ? "active" : "pending",
      error: p.error,
      appliedAt: p.appliedAt ? p.appliedAt.toISOString() : null,
    })),
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
  };
}

/** Routers of the networks the actor sees (admins: all). */
export async function listRouters(actor: ActorRef): Promise<RouterDto[]> {
  const rows = await db().router.findMany({
    where: { network: await networkScopeFor(actor) },
    include,
    orderBy: [{ name: "asc" }, { id: "asc" }],
  });
  return rows.map(toDto);
}

/** A router the caller may see (else 404, audited); with `manage`, change (the network's rules). */
async function requireRouter(who: Caller, id: string, action: string, manage: boolean) {
  const row = await db().router.findUnique({
    where: { id },
    select: { id: true, name: true, networkId: true, network: { select: { projectId: true } } },
  });
  if (!row) throw routerNotFound(id);
  if (!(await canSeeNetwork(who.actor, row.network)))
    throw await deny(who, action, "router", id, "not a member of the network's project", routerNotFound(id));
  if (manage) await requireChangeableNetwork(who, row.networkId, action);
  return row;
}

export async function getRouter(who: Caller, id: string): Promise<RouterDto> {
  await requireRouter(who, id, "router.read", false);
  return toDto(await db().router.findUniqueOrThrow({ where: { id }, include }));
}

export async function createRouter(input: CreateRouterInput, who: Caller): Promise<RouterDto> {
  const network = await requireChangeableNetwork(who, input.networkId, "router.create");
  const [net, ext] = await Promise.all([
    db().network.findUniqueOrThrow({ where: { id: network.id }, select: { cidr: true } }),
    db().externalNetwork.findUnique({ where: { id: input.externalNetworkId }, select: { name: true, cidr: true } }),
  ]);
  if (!ext) throw externalNetworkNotFound(input.externalNetworkId);
  if (cidrsOverlap(net.cidr, ext.cidr))
    throw new AppError({
      code: "conflict",
      message: `Network ${network.name} (${net.cidr}) overlaps external network ${ext.name} (${ext.cidr}); a router joins two different subnets.`,
    });
  let row: Row;
  try {
    row = await db().router.create({
      data: { name: input.name, networkId: network.id, externalNetworkId: input.externalNetworkId, snat: input.snat },
      include,
    });
  } catch (error) {
    if (isUniqueViolation(error))
      throw new AppError({ code: "conflict", message: `Network ${network.name} already has a router.` });
    throw error;
  }
  await recordAudit({
    actor: who.actor,
    action: "router.create",
    result: "success",
    targetType: "router",
    targetId: row.id,
    clientIp: who.clientIp,
    details: { name: row.name, networkId: network.id, externalNetworkId: input.externalNetworkId, snat: input.snat },
  });
  await syncRouters({ routerIds: [row.id] });
  return getRouter(who, row.id);
}

export async function updateRouter(who: Caller, id: string, input: UpdateRouterInput): Promise<RouterDto> {
  await requireRouter(who, id, "router.update", true);
  await db().router.update({
    where: { id },
    data: {
      ...(input.name !== undefined ? { name: input.name } : {}),
      ...(input.snat !== undefined ? { snat: input.snat } : {}),
    },
  });
  await recordAudit({
    actor: who.actor,
    action: "router.update",
    result: "success",
    targetType: "router",
    targetId: id,
    clientIp: who.clientIp,
    details: { ...input },
  });
  await syncRouters({ routerIds: [id] });
  return getRouter(who, id);
}

/**
 * Refused (409) while floating IPs are mapped to NICs on its network (unmap them first: their VMs would
 * silently lose their way in). The router is removed from every host that has it; a host that cannot be
 * told now loses it at the next sweep (sync.ts), which removes every router the controller does not know.
 */
export async function deleteRouter(who: Caller, id: string): Promise<{ id: string; deleted: true }> {
  const r = await requireRouter(who, id, "router.delete", true);
  const mapped = await db().floatingIp.count({ where: { nic: { networkId: r.networkId } } });
  if (mapped > 0)
    throw new AppError({
      code: "conflict",
      message: `Router ${r.name} carries ${mapped} floating IP(s) mapped to VMs on its network; unmap them first.`,
    });
  const failed = await removeRouterFromHosts(id);
  await db().router.delete({ where: { id } });
  await recordAudit({
    actor: who.actor,
    action: "router.delete",
    result: "success",
    targetType: "router",
    targetId: id,
    clientIp: who.clientIp,
    details: { name: r.name, ...(failed.length > 0 ? { notRemovedFrom: failed } : {}) },
  });
  if (failed.length > 0)
    logError("routers.delete_incomplete", new Error(`router ${id} still on ${failed.join(", ")}`), { routerId: id });
  return { id, deleted: true };
}
