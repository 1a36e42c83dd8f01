import { apiRoute } from "@/lib/server/http";
import { getVm } from "@/lib/server/vms";

export const GET = apiRoute<{ id: string }>({ permission: "read", action: "vm.get", targetType: "vm" }, ({ params }) => getVm(params.id));
