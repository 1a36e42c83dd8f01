import { apiRoute } from "@/lib/server/web";
import { readJson } from "@/lib/server/platform";
import { attachVolumeSchema } from "@/lib/schemas/volumes";
import { requireVmAccess } from "@/lib/server/vms";
import { attachVolume, volumesOfVm } from "@/lib/server/volumes";

// The VM's attached volumes, in guest order (vdb, vdc, …).
export const GET = apiRoute<{ id: string }>(
  { permission: "read", action: "vm.volumes", targetType: "vm" },
  async ({ params, actor, clientIp }) => {
    await requireVmAccess(actor, params.id, "read", { action: "vm.volumes", clientIp });
    return { items: await volumesOfVm(params.id) };
  },
);

// {volumeId}: attach (hot-plug on a running VM); only a volume of the VM's host (or an unplaced one).
export const POST = apiRoute<{ id: string }>(
  { permission: "vm:operate", action: "volume.attach", targetType: "vm" },
  async ({ req, params, actor, clientIp }) => {
    const { volumeId } = await readJson(req, attachVolumeSchema);
    return attachVolume(params.id, volumeId, { actor, clientIp });
  },
);
