import { apiRoute } from "@/lib/server/http";
import { listTasksForVm } from "@/lib/server/tasks";
import { requireVmAccess } from "@/lib/server/vm-access";

export const GET = apiRoute<{ id: string }>({ permission: "read", action: "vm.tasks", targetType: "vm" }, async ({ params, actor, clientIp }) => {
  await requireVmAccess(actor, params.id, "read", { action: "vm.tasks", clientIp });
  return { items: await listTasksForVm(params.id) };
});
