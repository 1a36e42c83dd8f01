import { apiRoute } from "@/lib/server/web";
import { getVm } from "@/lib/server/vms";
import { deleteVm } from "@/lib/server/vms";
import { renameVm, requireVmAccess } from "@/lib/server/vms";
import { readJson } from "@/lib/server/platform";
import { setVmHa } from "@/lib/server/mobility";
import { vmPatchSchema } from "@/lib/schemas/migration";

// A VM outside the caller's projects is a 404, like one that does not exist (lib/server/vms/access.ts).
export const GET = apiRoute<{ id: string }>(
  { permission: "read", action: "vm.get", targetType: "vm" },
  async ({ params, actor, clientIp }) => {
    await requireVmAccess(actor, params.id, "read", { action: "vm.get", clientIp });
    return getVm(params.id);
  },
);

export const DELETE = apiRoute<{ id: string }>(
  { permission: "vm:operate", action: "vm.delete", targetType: "vm" },
  async ({ params, actor, clientIp }) => {
    await deleteVm(params.id, { actor, clientIp });
    return { id: params.id, deleted: true };
  },
);

// The display name and hostname (issue 17), and HA on or off (issue 14, ADR 036: the host's agent is
// told first — its watchdog fences only VMs whose spec says so; an HA VM may have no volumes).
export const PATCH = apiRoute<{ id: string }>(
  { permission: "vm:operate", action: "vm.update", targetType: "vm" },
  async ({ req, params, actor, clientIp }) => {
    const { ha, ...names } = await readJson(req, vmPatchSchema);
    const who = { actor, clientIp };
    if (names.name !== undefined || names.hostname !== undefined) await renameVm(params.id, names, who);
    return ha === undefined ? getVm(params.id) : setVmHa(params.id, { ha }, who);
  },
);
