import "server-only";
// What a heartbeat reads: its host (found by the token's hash, or by id) and the VMs placed there,
// in one statement. Raw SQL on purpose: it runs for every heartbeat (100 a second at 1,000 agents)
// and Prisma's findUnique with the VMs included cost ~0.65 ms of CPU here against ~0.23 ms for
// this query (issue 16). The columns are the ones checkHostCredentials, recordHostFacts and the
// VM status rules read; both providers return booleans for the Boolean columns.
import { Prisma } from "../../generated/sqlite/client";
import type { HeartbeatHost, HostCredentialRow } from "../hosts";
import { db } from "../platform";

export type HeartbeatHostRow = HeartbeatHost & HostCredentialRow;
export type HeartbeatVmRow = {
  id: string;
  name: string;
  status: string;
  powerState: string;
  emulated: boolean;
  ha: boolean;
};

type Joined = HeartbeatHostRow & {
  vmId: string | null;
  vmName: string | null;
  vmStatus: string | null;
  vmPowerState: string | null;
  vmEmulated: boolean | number | null;
  vmHa: boolean | number | null;
};

/** The host with this token hash (or id) and its VMs, or null when there is none. */
export async function heartbeatRows(
  by: { tokenHash: string } | { hostId: string },
): Promise<{ host: HeartbeatHostRow; vms: HeartbeatVmRow[] } | null> {
  const where =
    "tokenHash" in by ? Prisma.sql`h."agentTokenHash" = ${by.tokenHash}` : Prisma.sql`h."id" = ${by.hostId}`;
  const rows = await db().$queryRaw<Joined[]>(Prisma.sql`
    SELECT h."id", h."name", h."arch", h."agentUrl", h."approval", h."certFingerprint",
      v."id" AS "vmId", v."name" AS "vmName", v."status" AS "vmStatus", v."powerState" AS "vmPowerState",
      v."emulated" AS "vmEmulated", v."ha" AS "vmHa"
    FROM "Host" h LEFT JOIN "Vm" v ON v."hostId" = h."id"
    WHERE ${where}`);
  const first = rows[0];
  if (!first) return null;
  const host: HeartbeatHostRow = {
    id: first.id,
    name: first.name,
    arch: first.arch,
    agentUrl: first.agentUrl,
    approval: first.approval,
    certFingerprint: first.certFingerprint,
  };
  const vms = rows
    .filter((r) => r.vmId !== null)
    .map((r) => ({
      id: r.vmId!,
      name: r.vmName!,
      status: r.vmStatus!,
      powerState: r.vmPowerState!,
      emulated: Boolean(r.vmEmulated),
      ha: Boolean(r.vmHa),
    }));
  return { host, vms };
}
