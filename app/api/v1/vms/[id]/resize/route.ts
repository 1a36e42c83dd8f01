import { apiRoute } from "@/lib/server/web";
import { readJson } from "@/lib/server/platform";
import { resizeVmSchema } from "@/lib/schemas/volumes";
import { resizeVm } from "@/lib/server/vms";

// {vcpus?, memoryMb?, diskGb?}: vCPUs and memory while stopped; the disk only grows (online).
export const POST = apiRoute<{ id: string }>(
  { permission: "vm:operate", action: "vm.resize", targetType: "vm" },
  async ({ req, params, actor, clientIp }) => {
    const input = await readJson(req, resizeVmSchema);
    return resizeVm(params.id, input, { actor, clientIp });
  },
);
