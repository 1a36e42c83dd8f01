import { apiRoute } from "@/lib/server/web";
import { readJson } from "@/lib/server/platform";
import { vmActionRequestSchema } from "@/lib/schemas/vms";
import { vmAction } from "@/lib/server/vms";

export const POST = apiRoute<{ id: string }>(
  { permission: "vm:operate", action: "vm.action", targetType: "vm" },
  async ({ req, params, actor, clientIp }) => {
    const { action } = await readJson(req, vmActionRequestSchema);
    return vmAction(params.id, action, { actor, clientIp });
  },
);
