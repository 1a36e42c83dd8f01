import { apiRoute } from "@/lib/server/web";
import { listTasksForVm } from "@/lib/server/vms";
import { requireVmAccess } from "@/lib/server/vms";

export const GET = apiRoute<{ id: string }>(
  { permission: "read", action: "vm.tasks", targetType: "vm" },
  async ({ params, actor, clientIp }) => {
    await requireVmAccess(actor, params.id, "read", { action: "vm.tasks", clientIp });
    return { items: await listTasksForVm(params.id) };
  },
);
