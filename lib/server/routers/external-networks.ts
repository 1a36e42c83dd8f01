import "server-only";
// External (provider) networks and their address pools (issue 18, ADR 059). One pool serves both the
// floating IPs projects hold and the address each router uses on each host (its SNAT source there), so
// both are allocated under one lock: the external network's row is written first in the transaction
// (SQLite: the write lock; PostgreSQL: a row lock), then the free address is read and taken.
import { AppError } from "../../errors";
import { cidrsOverlap, nextFreeAddress, poolSize } from "../../ipam";
import type { CreateExternalNetworkInput, ExternalNetworkDto } from "../../schemas/routers";
import { db, isUniqueViolation, recordAudit, type Caller } from "../platform";
import { externalNetworkNotFound, requireAdmin } from "./access";

type Tx = Parameters<Parameters<ReturnType<typeof db>["$transaction"]>[0]>[0];

type Row = {
  id: string;
  name: string;
  cidr: string;
  gateway: string | null;
  poolStart: string;
  poolEnd: string;
  createdAt: Date;
  updatedAt: Date;
  _count: { routers: number; floatingIps: number; routerPorts: number };
};

/** lib/ipam's plan; without a gateway the network address stands in (never allocatable anyway). */
export function planOf(n: { cidr: string; gateway: string | null; poolStart: string; poolEnd: string }) {
  return { cidr: n.cidr, gateway: n.gateway ?? n.cidr.split("/")[0]!, poolStart: n.poolStart, poolEnd: n.poolEnd };
}

const include = { _count: { select: { routers: true, floatingIps: true, routerPorts: true } } } as const;

function toDto(n: Row): ExternalNetworkDto {
  return {
    id: n.id,
    name: n.name,
    cidr: n.cidr,
    gateway: n.gateway,
    poolStart: n.poolStart,
    poolEnd: n.poolEnd,
    poolSize: poolSize(planOf(n)),
    usedAddresses: n._count.floatingIps + n._count.routerPorts,
    routerCount: n._count.routers,
    createdAt: n.createdAt.toISOString(),
    updatedAt: n.updatedAt.toISOString(),
  };
}

export async function listExternalNetworks(): Promise<ExternalNetworkDto[]> {
  const rows = await db().externalNetwork.findMany({ include, orderBy: [{ name: "asc" }, { id: "asc" }] });
  return rows.map(toDto);
}

export async function getExternalNetwork(id: string): Promise<ExternalNetworkDto> {
  const row = await db().externalNetwork.findUnique({ where: { id }, include });
  if (!row) throw externalNetworkNotFound(id);
  return toDto(row);
}

export async function createExternalNetwork(
  input: CreateExternalNetworkInput,
  who: Caller,
): Promise<ExternalNetworkDto> {
  await requireAdmin(who, "externalNetwork.create", null);
  // A VM network with the same addresses would make the routers' two sides one subnet.
  const clash = (await db().network.findMany({ select: { name: true, cidr: true } })).find((n) =>
    cidrsOverlap(n.cidr, input.cidr),
  );
  if (clash)
    throw new AppError({
      code: "conflict",
      message: `${input.cidr} overlaps network ${clash.name} (${clash.cidr}); an external network needs its own addresses.`,
    });
  let row: Row;
  try {
    row = await db().externalNetwork.create({ data: input, include });
  } catch (error) {
    if (isUniqueViolation(error))
      throw new AppError({ code: "conflict", message: `An external network named ${input.name} already exists.` });
    throw error;
  }
  await recordAudit({
    actor: who.actor,
    action: "externalNetwork.create",
    result: "success",
    targetType: "externalNetwork",
    targetId: row.id,
    clientIp: who.clientIp,
    details: { name: row.name, cidr: row.cidr },
  });
  return toDto(row);
}

/** Refused (409) while routers or floating IPs use it: nothing in use disappears under a project. */
export async function deleteExternalNetwork(who: Caller, id: string): Promise<{ id: string; deleted: true }> {
  await requireAdmin(who, "externalNetwork.delete", id);
  const row = await db().externalNetwork.findUnique({ where: { id }, include });
  if (!row) throw externalNetworkNotFound(id);
  if (row._count.routers > 0 || row._count.floatingIps > 0)
    throw new AppError({
      code: "conflict",
      message:
        `External network ${row.name} is used by ${row._count.routers} router(s) and ${row._count.floatingIps} ` +
        `floating IP(s); delete those first.`,
    });
  await db().externalNetwork.delete({ where: { id } });
  await recordAudit({
    actor: who.actor,
    action: "externalNetwork.delete",
    result: "success",
    targetType: "externalNetwork",
    targetId: id,
    clientIp: who.clientIp,
    details: { name: row.name },
  });
  return { id, deleted: true };
}

/**
 * The next free pool address of an external network, inside `tx` after taking the network's lock;
 * the caller inserts the row that holds it in the same transaction. 409 when the pool is full.
 */
export async function takeExternalAddress(tx: Tx, externalNetworkId: string): Promise<string> {
  const net = await tx.externalNetwork
    .update({ where: { id: externalNetworkId }, data: { updatedAt: new Date() } })
    .catch(() => null);
  if (!net) throw externalNetworkNotFound(externalNetworkId);
  const [fips, ports] = await Promise.all([
    tx.floatingIp.findMany({ where: { externalNetworkId }, select: { address: true } }),
    tx.routerPort.findMany({ where: { externalNetworkId }, select: { address: true } }),
  ]);
  const free = nextFreeAddress(
    planOf(net),
    [...fips, ...ports].map((r) => r.address),
  );
  if (!free)
    throw new AppError({
      code: "conflict",
      message: `External network ${net.name} has no free address left (pool ${net.poolStart}–${net.poolEnd}).`,
    });
  return free;
}
