import "server-only";
import type { Caller } from "../platform";
// Networks and their address pools. The pure rules live in lib/ipam.ts; this module adds what needs
// the database: uniqueness across networks, usage counts, and allocating NICs so that no IP or MAC
// is ever handed out twice, whatever runs concurrently (see docs/decisions/007-ipam.md).
import { randomBytes } from "node:crypto";
import { AppError } from "../../errors";
import {
  cidrsOverlap,
  inPool,
  macFromBytes,
  nextFreeAddress,
  poolSize,
  prefixLength,
  validateNetworkPlan,
  type NetworkPlan,
} from "../../ipam";
import type {
  CreateNetworkInput,
  NetworkListQuery,
  UpdateNetworkInput,
  networkDtoSchema,
} from "../../schemas/networks";
import type { z } from "zod";
import type { ListResult } from "../../schemas/list";
import type { Network } from "../../generated/sqlite/client";
import { recordAudit } from "../platform";
import { db, isPostgres, rawDriver, sqliteStatement, type Db } from "../platform";
import { nameSearch, pageArgs, type Actor } from "../platform";
import {
  assertMayDefine,
  auditedDenials,
  canSeeNetwork,
  networkNotFound,
  networkScopeFor,
  networkVisibility,
  requireChangeableNetwork,
} from "./tenancy";

/** The interactive-transaction client (what `db().$transaction(async (tx) => …)` passes in). */
export type Tx = Parameters<Parameters<Db["$transaction"]>[0]>[0];

/** How many times one allocation re-reads after losing a race; every lost race means another NIC committed. */
export const MAX_ALLOCATION_ATTEMPTS = 32;

type Usage = { usedAddresses: number; nicCount: number; vmCount: number };
const NO_USAGE: Usage = { usedAddresses: 0, nicCount: 0, vmCount: 0 };

export type NetworkDto = ReturnType<typeof toNetworkDto>;

function planOf(n: Pick<Network, "cidr" | "gateway" | "poolStart" | "poolEnd">): NetworkPlan {
  return { cidr: n.cidr, gateway: n.gateway, poolStart: n.poolStart, poolEnd: n.poolEnd };
}

/** The API shape (lib/schemas/networks.ts networkDtoSchema); Dates become ISO strings on the wire. */
export function toNetworkDto(n: Network & { project?: { name: string } | null }, usage: Usage = NO_USAGE) {
  const size = poolSize(planOf(n));
  return {
    id: n.id,
    name: n.name,
    vlanId: n.vlanId,
    cidr: n.cidr,
    prefixLength: prefixLength(n.cidr),
    gateway: n.gateway,
    poolStart: n.poolStart,
    poolEnd: n.poolEnd,
    poolSize: size,
    usedAddresses: usage.usedAddresses,
    // Every stored IP is inside the pool (updates may not shrink the pool past one), so this is exact.
    freeAddresses: Math.max(0, size - usage.usedAddresses),
    nicCount: usage.nicCount,
    vmCount: usage.vmCount,
    projectId: n.projectId,
    projectName: n.project?.name ?? null,
    createdAt: n.createdAt,
    updatedAt: n.updatedAt,
  } satisfies z.input<typeof networkDtoSchema>;
}

/** One grouped query for the usage of many networks: per (network, VM) the NICs and allocated IPs. */
async function usageOf(networkIds: string[], client: Tx | Db = db()): Promise<Map<string, Usage>> {
  const out = new Map<string, Usage>();
  if (networkIds.length === 0) return out;
  const groups = await client.nic.groupBy({
    by: ["networkId", "vmId"],
    where: { networkId: { in: networkIds } },
    _count: { _all: true, ip: true },
  });
  for (const g of groups) {
    const u = out.get(g.networkId) ?? { ...NO_USAGE };
    u.nicCount += g._count._all;
    u.usedAddresses += g._count.ip;
    u.vmCount += 1;
    out.set(g.networkId, u);
  }
  return out;
}

function usageWhere(status: NetworkListQuery["status"]) {
  if (status === "in-use") return { nics: { some: {} } };
  if (status === "unused") return { nics: { none: {} } };
  return {};
}

/** Shared networks and those of the actor's projects (admins: all), see tenancy.ts. */
export async function listNetworks(query: NetworkListQuery, actor: Actor): Promise<ListResult<NetworkDto>> {
  const where = { AND: [usageWhere(query.status), nameSearch(query.q), await networkScopeFor(actor)] };
  const [rows, total] = await Promise.all([
    db().network.findMany({
      where,
      include: { project: { select: { name: true } } },
      orderBy: [{ [query.sort]: query.dir }, { id: "asc" }],
      ...pageArgs(query.page, query.pageSize),
    }),
    db().network.count({ where }),
  ]);
  const usage = await usageOf(rows.map((r) => r.id));
  return {
    items: rows.map((r) => toNetworkDto(r, usage.get(r.id))),
    total,
    page: query.page,
    pageSize: query.pageSize,
  };
}

async function findOrThrow(id: string, client: Tx | Db = db()): Promise<Network> {
  const row = await client.network.findUnique({ where: { id } });
  if (!row) throw new AppError({ code: "not_found", message: `Network ${id} does not exist.` });
  return row;
}

export async function getNetwork(id: string, actor: Actor): Promise<NetworkDto> {
  const row = await db().network.findUnique({ where: { id }, include: { project: { select: { name: true } } } });
  // Another project's network does not exist for the actor: the same 404 as a missing one.
  if (!row || !(await canSeeNetwork(actor, row))) throw networkNotFound(id);
  return toNetworkDto(row, (await usageOf([id])).get(id));
}

/**
 * Serialises network creates/updates on PostgreSQL so two admins cannot both pass the overlap
 * check (overlap is not a constraint the database can express for text CIDRs). SQLite needs
 * nothing: its adapter runs one transaction at a time.
 */
async function lockNetworkDefinitions(tx: Tx): Promise<void> {
  if (isPostgres()) await tx.$executeRawUnsafe("SELECT pg_advisory_xact_lock(7007001)");
}

/** The unique-constraint fields of a Prisma P2002 error, whichever adapter raised it; null for other errors. */
export function uniqueViolation(error: unknown): string[] | null {
  if (typeof error !== "object" || error === null || (error as { code?: unknown }).code !== "P2002") return null;
  const meta = (error as { meta?: Record<string, unknown> }).meta ?? {};
  const target = meta.target;
  if (Array.isArray(target)) return target.map(String);
  if (typeof target === "string") return [target];
  // Driver adapters report the constraint under meta.driverAdapterError.cause.constraint.
  const constraint = (
    meta.driverAdapterError as { cause?: { constraint?: { fields?: unknown; index?: unknown } } } | undefined
  )?.cause?.constraint;
  if (constraint && Array.isArray(constraint.fields)) return constraint.fields.map((f) => String(f).replace(/"/g, ""));
  if (constraint && typeof constraint.index === "string") return [constraint.index];
  return [];
}

/**
 * Refuses a name, VLAN or CIDR that another network already has (all three are unique across projects:
 * one bridge per host), naming that network when the caller may see it, else "a network of another project".
 */
async function assertNoClash(
  tx: Tx,
  candidate: { name: string; vlanId: number; cidr: string },
  visible: (projectId: string | null) => boolean,
  exceptId?: string,
): Promise<void> {
  const others = await tx.network.findMany({
    where: exceptId ? { id: { not: exceptId } } : {},
    select: { id: true, name: true, vlanId: true, cidr: true, projectId: true },
  });
  const label = (o: { name: string; projectId: string | null; cidr: string }, withCidr = false) =>
    visible(o.projectId) ? `network ${o.name}${withCidr ? ` (${o.cidr})` : ""}` : "a network of another project";
  const sameName = others.find((o) => o.name === candidate.name);
  if (sameName) throw new AppError({ code: "conflict", message: `A network named ${candidate.name} already exists.` });
  const sameVlan = others.find((o) => o.vlanId === candidate.vlanId);
  if (sameVlan)
    throw new AppError({
      code: "conflict",
      message: `VLAN ${candidate.vlanId} is already used by ${label(sameVlan)}.`,
    });
  const overlapping = others.find((o) => cidrsOverlap(o.cidr, candidate.cidr));
  if (overlapping)
    throw new AppError({
      code: "conflict",
      message: `${candidate.cidr} overlaps ${label(overlapping, true)}.`,
    });
  // Routers join a network to an external one (ADR 059): the two must be different subnets.
  const external = (await tx.externalNetwork.findMany({ select: { name: true, cidr: true } })).find((e) =>
    cidrsOverlap(e.cidr, candidate.cidr),
  );
  if (external)
    throw new AppError({
      code: "conflict",
      message: `${candidate.cidr} overlaps external network ${external.name} (${external.cidr}).`,
    });
}

function conflictFromUnique(error: unknown, candidate: { name?: string; vlanId?: number }): unknown {
  const fields = uniqueViolation(error);
  if (!fields) return error;
  const joined = fields.join(",");
  if (joined.includes("vlanId"))
    return new AppError({ code: "conflict", message: `VLAN ${candidate.vlanId} is already used by another network.` });
  if (joined.includes("name"))
    return new AppError({ code: "conflict", message: `A network named ${candidate.name} already exists.` });
  return new AppError({
    code: "conflict",
    message: "Another network with the same name or VLAN was created at the same time.",
  });
}

async function audited<T>(
  who: Caller,
  action: string,
  targetId: string | null,
  details: Record<string, unknown>,
  run: () => Promise<T>,
): Promise<T> {
  try {
    const result = await run();
    const id = targetId ?? (result as { id?: string } | null)?.id ?? null;
    await recordAudit({
      actor: who.actor,
      action,
      result: "success",
      targetType: "network",
      targetId: id,
      clientIp: who.clientIp,
      details,
    });
    return result;
  } catch (error) {
    if (error instanceof AppError && !auditedDenials.has(error)) {
      await recordAudit({
        actor: who.actor,
        action,
        result: "error",
        targetType: "network",
        targetId,
        clientIp: who.clientIp,
        details: { ...details, reason: error.message },
      });
    }
    throw error;
  }
}

export async function createNetwork(input: CreateNetworkInput, who: Caller): Promise<NetworkDto> {
  return audited(who, "network.create", null, { ...input }, async () => {
    await assertMayDefine(who, input.projectId, "network.create", null);
    const visible = await networkVisibility(who.actor); // before the transaction: SQLite runs one at a time
    try {
      const row = await db().$transaction(async (tx) => {
        await lockNetworkDefinitions(tx);
        await assertNoClash(tx, input, visible);
        return tx.network.create({ data: input, include: { project: { select: { name: true } } } });
      });
      return toNetworkDto(row);
    } catch (error) {
      throw conflictFromUnique(error, input);
    }
  });
}

export async function updateNetwork(id: string, input: UpdateNetworkInput, who: Caller): Promise<NetworkDto> {
  return audited(who, "network.update", id, { ...input }, async () => {
    await requireChangeableNetwork(who, id, "network.update");
    const visible = await networkVisibility(who.actor);
    try {
      const row = await db().$transaction(async (tx) => {
        await lockNetworkDefinitions(tx);
        const before = await findOrThrow(id, tx);
        const usage = (await usageOf([id], tx)).get(id) ?? NO_USAGE;
        const addressingChanged = (["cidr", "gateway", "vlanId"] as const).filter(
          (k) => input[k] !== undefined && input[k] !== before[k],
        );
        if (addressingChanged.length > 0 && usage.nicCount > 0) {
          throw new AppError({
            code: "conflict",
            message:
              `Network ${before.name} is used by ${usage.nicCount} NIC(s) on ${usage.vmCount} VM(s); ` +
              `its ${addressingChanged.join(", ")} cannot change while it is in use (only its name and pool).`,
          });
        }
        const cidr = input.cidr ?? before.cidr;
        // A changed CIDR invalidates the old pool bounds unless new ones are given: fall back to the default.
        const cidrChanged = input.cidr !== undefined && input.cidr !== before.cidr;
        const pick = (v: string | null | undefined, old: string) => (v === undefined ? (cidrChanged ? null : old) : v);
        const plan = validateNetworkPlan({
          cidr,
          gateway: input.gateway ?? before.gateway,
          poolStart: pick(input.poolStart, before.poolStart),
          poolEnd: pick(input.poolEnd, before.poolEnd),
        });
        if (!plan.ok)
          throw new AppError({
            code: "invalid",
            message: `Invalid network: ${plan.issues.map((i) => i.message).join("; ")}`,
          });
        const name = input.name ?? before.name;
        const vlanId = input.vlanId ?? before.vlanId;
        await assertNoClash(tx, { name, vlanId, cidr: plan.plan.cidr }, visible, id);
        if (usage.usedAddresses > 0) {
          // Never strand an allocated address outside the pool: it would be counted wrong and could be handed out twice after a later change.
          const ips = await tx.nic.findMany({
            where: { networkId: id, ip: { not: null } },
            select: { ip: true },
            orderBy: { ip: "asc" },
          });
          const outside = ips.map((r) => r.ip!).filter((ip) => !inPool(plan.plan, ip));
          if (outside.length > 0) {
            throw new AppError({
              code: "conflict",
              message:
                `The new pool ${plan.plan.poolStart}–${plan.plan.poolEnd} leaves out ${outside.length} address(es) in use ` +
                `(${outside.slice(0, 3).join(", ")}${outside.length > 3 ? ", …" : ""}).`,
            });
          }
        }
        return tx.network.update({
          where: { id },
          data: { name, vlanId, ...plan.plan },
          include: { project: { select: { name: true } } },
        });
      });
      return toNetworkDto(row, (await usageOf([id])).get(id));
    } catch (error) {
      throw conflictFromUnique(error, input);
    }
  });
}

export async function deleteNetwork(id: string, who: Caller): Promise<{ id: string; deleted: true }> {
  return audited(who, "network.delete", id, {}, async () => {
    await requireChangeableNetwork(who, id, "network.delete");
    const network = await findOrThrow(id);
    try {
      await db().$transaction(async (tx) => {
        const usage = (await usageOf([id], tx)).get(id) ?? NO_USAGE;
        if (usage.nicCount > 0) {
          throw new AppError({
            code: "conflict",
            message: `Network ${network.name} is in use by ${usage.vmCount} VM(s) (${usage.nicCount} NIC(s)); delete or detach them first.`,
          });
        }
        const router = await tx.router.findUnique({ where: { networkId: id }, select: { name: true } });
        if (router)
          throw new AppError({
            code: "conflict",
            message: `Network ${network.name} has router ${router.name}; delete the router first.`,
          });
        await tx.network.delete({ where: { id } });
      });
    } catch (error) {
      // Nic.networkId is ON DELETE RESTRICT: a NIC allocated between the count and the delete lands here.
      if (typeof error === "object" && error !== null && (error as { code?: unknown }).code === "P2003") {
        throw new AppError({
          code: "conflict",
          message: `Network ${network.name} just got a NIC; it is in use and cannot be deleted.`,
        });
      }
      throw error;
    }
    return { id, deleted: true as const };
  });
}

// ---- NIC allocation (called by the VM create flow inside its placement transaction) ----

export type AllocatedNic = {
  id: string;
  mac: string;
  ip: string;
  vlanId: number;
  prefixLength: number;
  gateway: string;
};

/**
 * Runs `fn` behind a savepoint and reports a unique violation as null instead of throwing. Needed
 * because on PostgreSQL a failed statement aborts the whole transaction (the caller's VM insert
 * and host claim included) unless it is rolled back to a savepoint first.
 */
async function tryUnique<T>(tx: Tx, fn: () => Promise<T>): Promise<T | null> {
  await tx.$executeRawUnsafe("SAVEPOINT polyarch_nic_alloc");
  try {
    const value = await fn();
    await tx.$executeRawUnsafe("RELEASE SAVEPOINT polyarch_nic_alloc");
    return value;
  } catch (error) {
    await tx.$executeRawUnsafe("ROLLBACK TO SAVEPOINT polyarch_nic_alloc");
    await tx.$executeRawUnsafe("RELEASE SAVEPOINT polyarch_nic_alloc");
    if (uniqueViolation(error)) return null;
    throw error;
  }
}

/**
 * Gives VM `vmId` a NIC on the network: the lowest free pool address and a random
 * 52:54:00:xx:xx:xx MAC. Runs inside the caller's interactive transaction, so the NIC commits or
 * rolls back with the VM. Uniqueness is the database's job (Nic.mac, Nic(networkId, ip)): insert
 * the candidate; if another transaction took that IP (or MAC) first, re-read and try the next one.
 */
const USED_ADDRESSES = `SELECT "ip" FROM "Nic" WHERE "networkId" = `;
const USED_ADDRESSES_SQLITE = `${USED_ADDRESSES}? AND "ip" IS NOT NULL`;

/**
 * The addresses NICs hold on the network, as committed: straight from the driver (rawDriver: a
 * prepared statement, one column, no ORM rows; at thousands of NICs Prisma's row mapping was most of
 * a create's CPU). A NIC written but not committed by another transaction is missed exactly as
 * before (read committed); the unique (networkId, ip) index decides, and the caller re-reads.
 */
async function usedAddresses(networkId: string): Promise<string[]> {
  const driver = rawDriver();
  if (driver.kind === "postgresql") {
    const rows = await driver.query<{ ip: string }>(
      "polyarch_nic_used_addresses",
      `${USED_ADDRESSES}$1 AND "ip" IS NOT NULL`,
      [networkId],
    );
    return rows.map((r) => r.ip);
  }
  return sqliteStatement(driver.reader, USED_ADDRESSES_SQLITE).pluck().all(networkId) as string[];
}

export async function allocateNic(
  tx: Tx,
  args: { vmId: string; networkId: string; position: number },
): Promise<AllocatedNic> {
  const network = await findOrThrow(args.networkId, tx);
  const plan = planOf(network);
  // Addresses found taken on insert: e.g. by a NIC this same transaction wrote (not committed, so
  // not in the committed read below); never offered twice.
  const taken: string[] = [];
  for (let attempt = 0; attempt < MAX_ALLOCATION_ATTEMPTS; attempt++) {
    const used = await usedAddresses(network.id);
    const ip = nextFreeAddress(plan, taken.length ? [...used, ...taken] : used);
    if (!ip) {
      throw new AppError({
        code: "conflict",
        message: `Network ${network.name} has no free addresses (pool ${network.poolStart}–${network.poolEnd}, ${used.length} in use).`,
      });
    }
    const mac = macFromBytes(randomBytes(3));
    const nic = await tryUnique(tx, () =>
      tx.nic.create({
        data: { vmId: args.vmId, networkId: network.id, mac, ip, position: args.position },
        select: { id: true },
      }),
    );
    if (!nic) {
      // The address (not just the random MAC) was taken: as this transaction sees it, so also by
      // a NIC it wrote itself, which the committed read above cannot show.
      if (await tx.nic.findFirst({ where: { networkId: network.id, ip }, select: { id: true } })) taken.push(ip);
      continue;
    }
    return {
      id: nic.id,
      mac,
      ip,
      vlanId: network.vlanId,
      prefixLength: prefixLength(network.cidr),
      gateway: network.gateway,
    };
  }
  throw new AppError({
    code: "conflict",
    message: `Network ${network.name} is busy (address allocation kept losing races); try again.`,
  });
}

/** Frees every address and MAC of the VM (same transaction as the VM's delete, or before it). */
export async function releaseNics(tx: Tx | Db, vmId: string): Promise<number> {
  const { count } = await tx.nic.deleteMany({ where: { vmId } });
  return count;
}

/** The VM's NICs as the agent's `nicSpecSchema` wants them (lib/schemas/agent-api.ts), in position order. */
export async function nicSpecsFor(
  vmId: string,
  client: Tx | Db = db(),
): Promise<Array<{ id: string; mac: string; vlan: number; ip?: string; prefixLength?: number; gateway?: string }>> {
  const nics = await client.nic.findMany({
    where: { vmId },
    include: { network: true },
    orderBy: [{ position: "asc" }, { createdAt: "asc" }],
  });
  return nics.map((n) => ({
    id: n.id,
    mac: n.mac,
    vlan: n.network.vlanId,
    ...(n.ip ? { ip: n.ip, prefixLength: prefixLength(n.network.cidr), gateway: n.network.gateway } : {}),
  }));
}
