import { apiRoute } from "@/lib/server/web";
import { getVm } from "@/lib/server/vms";
import { deleteVm } from "@/lib/server/vms";
import { requireVmAccess } from "@/lib/server/vms";

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
