import "server-only";
// From routers and floating IPs to the agents (issue 18, ADR 059). Distributed like OpenStack DVR
// (ADR 058): a router runs on every host that has VMs on its network — each host with its own address
// from the external pool (the SNAT source of its VMs) — and a floating IP on the host its VM runs on.
// syncRouters computes that desired state from the database, gives each (router, host) a RouterPort,
// and pushes only what changed (a hash of the last spec the host took); it runs after every change
// and periodically, which is how routers follow VMs that are created, moved or deleted.
// sweepStrayRouters removes the routers the controller no longer knows from the hosts that may hold
// one (a removal they missed marks them); now and then from every host that answers.
import { createHash } from "node:crypto";
import { prefixLength } from "../../ipam";
import type { RouterSpec } from "../../schemas/agent-router";
import { AppError } from "../../errors";
import { agentClient, networkFacts } from "../hosts";
import { db, env, isUniqueViolation, logError, logInfo } from "../platform";
import { takeExternalAddress } from "./external-networks";

export interface RouterSyncResult {
  /** (router, host) pairs whose host took a new spec */
  applied: number;
  /** (router, host) pairs removed from a host that no longer needs them */
  removed: number;
  /** pairs left as they were; retried by the next run */
  failed: Array<{ routerId: string; hostId: string; error: string }>;
}

/** A host's copy is pushed again after this long even when unchanged (a re-installed agent forgets it). */
const REFRESH_MS = 10 * 60_000;

type HostRow = {
  id: string;
  name: string;
  agentUrl: string | null;
  tokenGeneration: number;
  status: string;
  facts: string | null;
  lastHeartbeatAt: Date | null;
};
const hostSelect = {
  id: true,
  name: true,
  agentUrl: true,
  tokenGeneration: true,
  status: true,
  facts: true,
  lastHeartbeatAt: true,
} as const;

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** Why this host cannot take a router now; null = try. */
function unreachable(host: HostRow): string | null {
  if (host.status !== "online" || !host.agentUrl)
    return `Host ${host.name} is offline; its router follows when it is back.`;
  // Unknown (an older agent, unreadable facts): let the agent answer.
  if (networkFacts(host.facts)?.externalNetwork === false)
    return `Host ${host.name} has no external network: start its agent with --external-bridge.`;
  return null;
}

export function specHash(spec: RouterSpec): string {
  return createHash("sha256").update(JSON.stringify(spec)).digest("hex");
}

type Desired = Map<string, Array<{ floating: string; fixed: string }>>;

/** Per router: the hosts that need it and the floating IPs each answers for. */
async function desiredHosts(networkId: string): Promise<Desired> {
  const nics = await db().nic.findMany({
    where: { networkId, vm: { hostId: { not: null } } },
    select: {
      ip: true,
      floatingIp: { select: { address: true } },
      vm: { select: { hostId: true, migratingToHostId: true } },
    },
    orderBy: { createdAt: "asc" },
  });
  const out: Desired = new Map();
  for (const nic of nics) {
    const hostId = nic.vm.hostId!;
    const list = out.get(hostId) ?? [];
    out.set(hostId, list);
    // A moving VM's target routes for it as soon as it arrives; the floating IP stays with the source
    // until the move completes and hostId changes (one host answers for an address at a time).
    if (nic.vm.migratingToHostId && !out.has(nic.vm.migratingToHostId)) out.set(nic.vm.migratingToHostId, []);
    if (nic.floatingIp && nic.ip) list.push({ floating: nic.floatingIp.address, fixed: nic.ip });
  }
  return out;
}

async function ensurePort(routerId: string, hostId: string, externalNetworkId: string) {
  const find = () => db().routerPort.findUnique({ where: { routerId_hostId: { routerId, hostId } } });
  const existing = await find();
  if (existing) return existing;
  try {
    return await db().$transaction(async (tx) => {
      const address = await takeExternalAddress(tx, externalNetworkId);
      return tx.routerPort.create({ data: { routerId, hostId, externalNetworkId, address } });
    });
  } catch (error) {
    // Another sync created it meanwhile.
    if (isUniqueViolation(error)) {
      const again = await find();
      if (again) return again;
    }
    throw error;
  }
}

/**
 * Brings the routers (all, or those given, or those of the given networks) to the hosts that need
 * them and away from those that do not. Never throws for one host: its failure is recorded on its
 * RouterPort (shown in the console) and retried by the next run.
 */
export async function syncRouters(
  opts: { routerIds?: string[]; networkIds?: string[]; nowMs?: number } = {},
): Promise<RouterSyncResult> {
  const result: RouterSyncResult = { applied: 0, removed: 0, failed: [] };
  const now = opts.nowMs ?? Date.now();
  const where = {
    ...(opts.routerIds ? { id: { in: opts.routerIds } } : {}),
    ...(opts.networkIds ? { networkId: { in: opts.networkIds } } : {}),
  };
  const routers = await db().router.findMany({
    where,
    select: {
      id: true,
      snat: true,
      networkId: true,
      externalNetworkId: true,
      network: { select: { vlanId: true, cidr: true, gateway: true } },
      externalNetwork: { select: { cidr: true, gateway: true } },
      ports: { select: { id: true, hostId: true, address: true, appliedSpec: true, appliedAt: true, error: true } },
    },
  });
  for (const router of routers) {
    const desired = await desiredHosts(router.networkId);
    const hostIds = [...new Set([...desired.keys(), ...router.ports.map((p) => p.hostId)])];
    const hosts = new Map(
      (await db().host.findMany({ where: { id: { in: hostIds } }, select: hostSelect })).map((h) => [h.id, h]),
    );
    const fail = async (portId: string, hostId: string, error: string) => {
      result.failed.push({ routerId: router.id, hostId, error });
      await db()
        .routerPort.updateMany({ where: { id: portId }, data: { appliedSpec: null, error } })
        .catch((e: unknown) => logError("routers.port_state", e, { portId }));
    };
    await Promise.all(
      hostIds.map(async (hostId) => {
        const host = hosts.get(hostId);
        if (!host) return; // deleted: its ports went with it
        const fips = desired.get(hostId);
        if (fips === undefined) {
          // No VM of the network left on this host: take the router away, then free the address.
          const port = router.ports.find((p) => p.hostId === hostId)!;
          const why = unreachable(host);
          if (why && host.status !== "online") return fail(port.id, hostId, why);
          try {
            if (!why) await agentClient.deleteRouter(host, router.network.vlanId);
            await db().routerPort.delete({ where: { id: port.id } });
            result.removed++;
          } catch (error) {
            await fail(port.id, hostId, `could not remove the router: ${message(error)}`);
          }
          return;
        }
        let port;
        try {
          port =
            router.ports.find((p) => p.hostId === hostId) ??
            (await ensurePort(router.id, hostId, router.externalNetworkId));
        } catch (error) {
          result.failed.push({ routerId: router.id, hostId, error: message(error) });
          logError("routers.port_allocation", error, { routerId: router.id, hostId });
          return;
        }
        const spec: RouterSpec = {
          gateway: `${router.network.gateway}/${prefixLength(router.network.cidr)}`,
          external: {
            address: `${port.address}/${prefixLength(router.externalNetwork.cidr)}`,
            ...(router.externalNetwork.gateway ? { gateway: router.externalNetwork.gateway } : {}),
          },
          snat: router.snat,
          floatingIps: fips,
        };
        const hash = specHash(spec);
        const fresh = port.appliedAt !== null && now - port.appliedAt.getTime() < REFRESH_MS;
        if (port.appliedSpec === hash && !port.error && fresh) return;
        const why = unreachable(host);
        if (why) return fail(port.id, hostId, why);
        try {
          await agentClient.putRouter(host, router.network.vlanId, spec);
          await db().routerPort.update({
            where: { id: port.id },
            data: { appliedSpec: hash, appliedAt: new Date(now), error: null },
          });
          result.applied++;
        } catch (error) {
          logError("routers.push_failed", error, { routerId: router.id, hostId });
          await fail(port.id, hostId, message(error));
        }
      }),
    );
  }
  return result;
}

/**
 * After a VM moved: the routers of its NICs' networks follow at once (the periodic run would within
 * seconds), so its floating IP answers on the new host as soon as the VM runs there.
 */
export async function syncRoutersOfVm(vmId: string): Promise<RouterSyncResult> {
  const nics = await db().nic.findMany({
    where: { vmId, network: { router: { isNot: null } } },
    select: { networkId: true },
  });
  if (nics.length === 0) return { applied: 0, removed: 0, failed: [] };
  return syncRouters({ networkIds: [...new Set(nics.map((n) => n.networkId))] });
}

/**
 * Deleting a router: removes it from every host that has it. Returns the names of hosts that could not
 * be told (offline or failing); sweepStrayRouters removes it there once they answer.
 */
export async function removeRouterFromHosts(routerId: string): Promise<string[]> {
  const router = await db().router.findUnique({
    where: { id: routerId },
    select: { network: { select: { vlanId: true } }, ports: { select: { host: { select: hostSelect } } } },
  });
  if (!router) return [];
  const failed: Array<{ id: string; name: string }> = [];
  await Promise.all(
    router.ports.map(async ({ host }) => {
      if (unreachable(host)) return void failed.push(host);
      try {
        await agentClient.deleteRouter(host, router.network.vlanId);
      } catch (error) {
        logError("routers.remove_failed", error, { routerId, hostId: host.id });
        failed.push(host);
      }
    }),
  );
  // Marked before the router's row goes: the sweep then asks these hosts until they answer.
  if (failed.length > 0)
    await db().host.updateMany({
      where: { id: { in: failed.map((h) => h.id) } },
      data: { strayRoutersSince: new Date() },
    });
  return failed.map((h) => h.name);
}

/**
 * Periodic: answering hosts are asked which routers they have; those the controller has no RouterPort
 * for are removed. Asked: the hosts marked by a removal they missed (a router deleted while they were
 * away), or with `all` every answering host (the controller's start, then rarely: a database restored
 * from a backup leaves routers no mark records). A host's mark is cleared once it answered, unless a
 * newer removal marked it again meanwhile.
 */
export async function sweepStrayRouters(
  opts: { nowMs?: number; all?: boolean } = {},
): Promise<{ removed: number; failed: number }> {
  const since = new Date((opts.nowMs ?? Date.now()) - env().POLYARCH_HEARTBEAT_TIMEOUT_MS);
  const hosts = await db().host.findMany({
    where: {
      status: "online",
      agentUrl: { not: null },
      lastHeartbeatAt: { gte: since },
      revokedAt: null,
      ...(opts.all ? {} : { strayRoutersSince: { not: null } }),
    },
    select: {
      ...hostSelect,
      strayRoutersSince: true,
      routerPorts: { select: { router: { select: { network: { select: { vlanId: true } } } } } },
    },
  });
  const answered = async (host: { id: string; strayRoutersSince: Date | null }) => {
    if (host.strayRoutersSince)
      await db().host.updateMany({
        where: { id: host.id, strayRoutersSince: host.strayRoutersSince },
        data: { strayRoutersSince: null },
      });
  };
  let removed = 0;
  let failed = 0;
  await Promise.all(
    hosts.map(async (host) => {
      if (unreachable(host)) return;
      const known = new Set(host.routerPorts.map((p) => p.router.network.vlanId));
      try {
        const list = await agentClient.listRouters(host);
        for (const r of list) {
          if (known.has(r.vlan)) continue;
          await agentClient.deleteRouter(host, r.vlan);
          removed++;
        }
        await answered(host);
      } catch (error) {
        // An agent without routers (older, or no OVS) answers 404 for the list: nothing to sweep.
        if (error instanceof AppError && error.code === "not_found") return answered(host);
        failed++;
        // A host that went away since its last heartbeat: the offline sweep handles it; the next run retries.
        logInfo("routers.sweep_skipped", { hostId: host.id, error: message(error) });
      }
    }),
  );
  return { removed, failed };
}
