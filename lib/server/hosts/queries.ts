import "server-only";
import { z } from "zod";
import { AppError } from "../../errors";
import type { Arch } from "../../arch";
import { hostListQuery } from "../../schemas/entities";
import type { ListResult } from "../../schemas/list";
import { db } from "../platform";
import { nameSearch, pageArgs } from "../platform";
import type { Host } from "../../generated/sqlite/client";
import { hostCapacity } from "../../scheduler/capacity";
import { parseArchList } from "../../scheduler/snapshot";
import type { updateHostSchema } from "../../schemas/hosts";
import type { hostDtoSchema } from "../../schemas/api";
import type { HOST_ADMIN_STATES, HOST_STATUSES } from "../../schemas/entities";
import { recordAudit } from "../platform";
import type { Actor } from "../platform";

export type HostDto = ReturnType<typeof toHostDto>;

/** What an operator sees: maintenance/disabled win over connectivity. */
export function displayHostStatus(h: Pick<Host, "status" | "adminState">): (typeof HOST_STATUSES)[number] {
  return (h.adminState === "enabled" ? h.status : h.adminState) as (typeof HOST_STATUSES)[number];
}

/** The `network` part of the host's last reported facts; null when absent (an older agent) or unreadable. */
export function networkFacts(facts: string | null): { dhcp: boolean; externalNetwork: boolean } | null {
  try {
    const n = facts ? (JSON.parse(facts) as { network?: { dhcp?: unknown; externalNetwork?: unknown } }).network : null;
    return n && typeof n.dhcp === "boolean" && typeof n.externalNetwork === "boolean"
      ? { dhcp: n.dhcp, externalNetwork: n.externalNetwork }
      : null;
  } catch {
    return null;
  }
}

/** The API shape (lib/schemas/api.ts hostDtoSchema); Dates become ISO strings on the wire. */

export function toHostDto(h: Host & { _count?: { vms: number } }) {
  return {
    id: h.id,
    name: h.name,
    arch: h.arch as Arch,
    status: displayHostStatus(h),
    connectivity: h.status as "online" | "offline",
    adminState: h.adminState as (typeof HOST_ADMIN_STATES)[number],
    cpuModel: h.cpuModel,
    cpuCount: h.cpuCount,
    memoryMb: h.memoryMb,
    diskGb: h.diskGb,
    cpuAllocationRatio: h.cpuAllocationRatio,
    ramAllocationRatio: h.ramAllocationRatio,
    reservedCpus: h.reservedCpus,
    reservedMemoryMb: h.reservedMemoryMb,
    reservedDiskGb: h.reservedDiskGb,
    capacity: hostCapacity(h),
    kvm: h.kvm,
    nativeArches: parseArchList(h.nativeArches),
    emulatedArches: parseArchList(h.emulatedArches),
    qemuVersion: h.qemuVersion,
    ovsDatapath: h.ovsDatapath,
    network: networkFacts(h.facts),
    agentUrl: h.agentUrl,
    certFingerprint: h.certFingerprint,
    certExpiresAt: h.certExpiresAt,
    revokedAt: h.revokedAt,
    approval: h.approval === "pending" ? "pending" : "approved",
    lastHeartbeatAt: h.lastHeartbeatAt,
    vmCount: h._count?.vms,
    createdAt: h.createdAt,
  } satisfies z.input<typeof hostDtoSchema>;
}

function statusWhere(status: string | undefined) {
  if (!status) return {};
  if (status === "maintenance" || status === "disabled") return { adminState: status };
  return { status, adminState: "enabled" };
}

export async function listHosts(query: z.output<typeof hostListQuery>): Promise<ListResult<HostDto>> {
  const where = { ...(query.arch ? { arch: query.arch } : {}), ...statusWhere(query.status), ...nameSearch(query.q) };
  const [rows, total] = await Promise.all([
    db().host.findMany({
      where,
      orderBy: [{ [query.sort]: query.dir }, { id: "asc" }],
      ...pageArgs(query.page, query.pageSize),
      include: { _count: { select: { vms: true } } },
    }),
    db().host.count({ where }),
  ]);
  return { items: rows.map(toHostDto), total, page: query.page, pageSize: query.pageSize };
}

export async function getHost(id: string): Promise<HostDto> {
  const row = await db().host.findUnique({ where: { id }, include: { _count: { select: { vms: true } } } });
  if (!row) throw new AppError({ code: "not_found", message: `Host ${id} does not exist.` });
  return toHostDto(row);
}

export async function updateHost(
  id: string,
  input: z.output<typeof updateHostSchema>,
  who: { actor: Actor; clientIp: string | null },
): Promise<HostDto> {
  const before = await db().host.findUnique({ where: { id } });
  if (!before) throw new AppError({ code: "not_found", message: `Host ${id} does not exist.` });
  const after = await db().host.update({ where: { id }, data: input, include: { _count: { select: { vms: true } } } });
  await recordAudit({
    actor: who.actor,
    action: "host.update",
    result: "success",
    targetType: "host",
    targetId: id,
    clientIp: who.clientIp,
    details: { name: before.name, ...input },
  });
  return toHostDto(after);
}
