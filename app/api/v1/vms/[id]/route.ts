import { apiRoute } from "@/lib/server/http";
import { getVm } from "@/lib/server/vms";
import { deleteVm } from "@/lib/server/vm-lifecycle";

export const GET = apiRoute<{ id: string }>({ permission: "read", action: "vm.get", targetType: "vm" }, ({ params }) => getVm(params.id));

export const DELETE = apiRoute<{ id: string }>({ permission: "vm:operate", action: "vm.delete", targetType: "vm" }, async ({ params, actor, clientIp }) => {
  await deleteVm(params.id, { actor, clientIp });
  return { id: params.id, deleted: true };
});
