import "server-only";
// Floating IPs (issue 18, ADR 059): a project takes an address from an external network's pool and maps
// it to one of its VMs' NICs. The host the VM runs on answers for it (DNAT in, SNAT out); sync.ts moves
// it with the VM. A NIC can be mapped only when its network has a router to that external network.
import { AppError } from "../../errors";
import { DEFAULT_PROJECT_ID } from "../../schemas/projects";
import type { CreateFloatingIpInput, FloatingIpDto, UpdateFloatingIpInput } from "../../schemas/routers";
import { db, isUniqueViolation, recordAudit, type Actor, type Caller } from "../platform";
import { firstProjectOf, memberProjectIds, seesEveryProject } from "../projects";
import { requireVmAccess } from "../vms";
import { assertMayManageProject, canSeeProjectOf, deny, externalNetworkNotFound, floatingIpNotFound } from "./access";
import { takeExternalAddress } from "./external-networks";
import { syncRouters } from "./sync";

type ActorRef = Pick<Actor, "id" | "email" | "role">;

const include = {
  externalNetwork: { select: { name: true } },
  project: { select: { name: true } },
  nic: {
    select: {
      ip: true,
      networkId: true,
      vm: { select: { id: true, name: true, host: { select: { name: true } } } },
    },
  },
} as const;

type Row = {
  id: string;
  address: string;
  externalNetworkId: string;
  projectId: string;
  description: string | null;
  nicId: string | null;
  createdAt: Date;
  updatedAt: Date;
  externalNetwork: { name: string };
  project: { name: string };
  nic: { ip: string | null; networkId: string; vm: { id: string; name: string; host: { name: string } | null } } | null;
};

function toDto(f: Row): FloatingIpDto {
  return {
    id: f.id,
    address: f.address,
    externalNetworkId: f.externalNetworkId,
    externalNetworkName: f.externalNetwork.name,
    projectId: f.projectId,
    projectName: f.project.name,
    description: f.description,
    nicId: f.nicId,
    vmId: f.nic?.vm.id ?? null,
    vmName: f.nic?.vm.name ?? null,
    fixedIp: f.nic?.ip ?? null,
    hostName: f.nic?.vm.host?.name ?? null,
    createdAt: f.createdAt.toISOString(),
    updatedAt: f.updatedAt.toISOString(),
  };
}

export async function listFloatingIps(actor: ActorRef, query: { projectId?: string } = {}): Promise<FloatingIpDto[]> {
  const scope = seesEveryProject(actor) ? {} : { projectId: { in: await memberProjectIds(actor) } };
  const rows = await db().floatingIp.findMany({
    where: { AND: [scope, query.projectId ? { projectId: query.projectId } : {}] },
    include,
    orderBy: [{ address: "asc" }, { id: "asc" }],
  });
  return rows.map(toDto);
}

async function requireFloatingIp(who: Caller, id: string, action: string, manage: boolean) {
  const row = await db().floatingIp.findUnique({
    where: { id },
    select: {
      id: true,
      address: true,
      projectId: true,
      externalNetworkId: true,
      nicId: true,
      nic: { select: { networkId: true } },
    },
  });
  if (!row) throw floatingIpNotFound(id);
  if (!(await canSeeProjectOf(who.actor, row.projectId)))
    throw await deny(who, action, "floatingIp", id, "not a member of the project", floatingIpNotFound(id));
  if (manage) await assertMayManageProject(who, row.projectId, action, id);
  return row;
}

export async function getFloatingIp(who: Caller, id: string): Promise<FloatingIpDto> {
  await requireFloatingIp(who, id, "floatingIp.read", false);
  return toDto(await db().floatingIp.findUniqueOrThrow({ where: { id }, include }));
}

/**
 * The NIC a floating IP of `projectId` on `externalNetworkId` may map to: the caller may operate its VM
 * (else 404/403), the VM is of the same project (403), the NIC has an address (409) and its network has a
 * router to that external network (409 naming what to create).
 */
async function requireMappableNic(
  who: Caller,
  projectId: string,
  externalNetworkId: string,
  nicId: string,
  action: string,
) {
  const nic = await db().nic.findUnique({
    where: { id: nicId },
    select: {
      id: true,
      ip: true,
      vmId: true,
      networkId: true,
      network: { select: { name: true, router: { select: { externalNetworkId: true, name: true } } } },
    },
  });
  const notFound = new AppError({ code: "not_found", message: `NIC ${nicId} does not exist.` });
  if (!nic) throw notFound;
  const vm = await requireVmAccess(who.actor, nic.vmId, "vm:operate", { action, clientIp: who.clientIp }).catch(
    (error: unknown) => {
      throw error instanceof AppError && error.code === "not_found" ? notFound : error;
    },
  );
  if ((vm.projectId ?? DEFAULT_PROJECT_ID) !== projectId)
    throw await deny(
      who,
      action,
      "floatingIp",
      null,
      "NIC of another project",
      new AppError({
        code: "forbidden",
        message: `VM ${vm.name} belongs to another project than the floating IP; a floating IP maps only to its own project's VMs.`,
      }),
    );
  if (!nic.ip)
    throw new AppError({ code: "conflict", message: `The NIC of VM ${vm.name} has no IPv4 address to map to.` });
  const router = nic.network.router;
  if (!router || router.externalNetworkId !== externalNetworkId) {
    const ext = await db().externalNetwork.findUnique({ where: { id: externalNetworkId }, select: { name: true } });
    throw new AppError({
      code: "conflict",
      message: router
        ? `Network ${nic.network.name} routes to another external network (router ${router.name}), not ${ext?.name ?? externalNetworkId}.`
        : `Network ${nic.network.name} has no router; create a router to ${ext?.name ?? externalNetworkId} for it first.`,
    });
  }
  return nic;
}

const mappedElsewhere = () =>
  new AppError({ code: "conflict", message: "That NIC already has a floating IP; unmap it first." });

export async function createFloatingIp(input: CreateFloatingIpInput, who: Caller): Promise<FloatingIpDto> {
  const projectId = input.projectId ?? (await firstProjectOf(who.actor));
  if (!projectId)
    throw new AppError({ code: "invalid", message: "You are in no project: give the projectId of the floating IP." });
  await assertMayManageProject(who, projectId, "floatingIp.create", null);
  if (!(await db().externalNetwork.findUnique({ where: { id: input.externalNetworkId }, select: { id: true } })))
    throw externalNetworkNotFound(input.externalNetworkId);
  const nic = input.nicId
    ? await requireMappableNic(who, projectId, input.externalNetworkId, input.nicId, "floatingIp.create")
    : null;
  let row: Row;
  try {
    row = await db().$transaction(async (tx) => {
      const address = await takeExternalAddress(tx, input.externalNetworkId);
      return tx.floatingIp.create({
        data: {
          externalNetworkId: input.externalNetworkId,
          address,
          projectId,
          description: input.description || null,
          nicId: nic?.id ?? null,
        },
        include,
      });
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw mappedElsewhere();
    throw error;
  }
  await recordAudit({
    actor: who.actor,
    action: "floatingIp.create",
    result: "success",
    targetType: "floatingIp",
    targetId: row.id,
    clientIp: who.clientIp,
    details: { address: row.address, projectId, nicId: row.nicId },
  });
  if (nic) await syncRouters({ networkIds: [nic.networkId] });
  return toDto(row);
}

/** Maps (nicId) or unmaps (null) and re-programs the routers of the old and the new NIC's network. */
export async function updateFloatingIp(who: Caller, id: string, input: UpdateFloatingIpInput): Promise<FloatingIpDto> {
  const f = await requireFloatingIp(who, id, "floatingIp.update", true);
  const nic =
    input.nicId !== undefined && input.nicId !== null && input.nicId !== f.nicId
      ? await requireMappableNic(who, f.projectId, f.externalNetworkId, input.nicId, "floatingIp.update")
      : null;
  try {
    await db().floatingIp.update({
      where: { id },
      data: {
        ...(input.nicId !== undefined ? { nicId: input.nicId } : {}),
        ...(input.description !== undefined ? { description: input.description || null } : {}),
      },
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw mappedElsewhere();
    throw error;
  }
  await recordAudit({
    actor: who.actor,
    action: "floatingIp.update",
    result: "success",
    targetType: "floatingIp",
    targetId: id,
    clientIp: who.clientIp,
    details: { address: f.address, ...input },
  });
  const networks = [f.nic?.networkId, nic?.networkId].filter((n): n is string => Boolean(n));
  if (input.nicId !== undefined && networks.length > 0) await syncRouters({ networkIds: networks });
  return getFloatingIp(who, id);
}

/** Releases the address back to the pool (unmapping it first if mapped). */
export async function deleteFloatingIp(who: Caller, id: string): Promise<{ id: string; deleted: true }> {
  const f = await requireFloatingIp(who, id, "floatingIp.delete", true);
  await db().floatingIp.delete({ where: { id } });
  await recordAudit({
    actor: who.actor,
    action: "floatingIp.delete",
    result: "success",
    targetType: "floatingIp",
    targetId: id,
    clientIp: who.clientIp,
    details: { address: f.address, nicId: f.nicId },
  });
  if (f.nic) await syncRouters({ networkIds: [f.nic.networkId] });
  return { id, deleted: true };
}
