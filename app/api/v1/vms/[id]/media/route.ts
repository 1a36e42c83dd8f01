import { apiRoute } from "@/lib/server/web";
import { readJson } from "@/lib/server/platform";
import { insertMediaSchema } from "@/lib/schemas/volumes";
import { ejectMedia, getVmMedia, insertMedia } from "@/lib/server/vms";

// The ISO in the VM's CD drive (image: null when empty).
export const GET = apiRoute<{ id: string }>(
  { permission: "read", action: "vm.media", targetType: "vm" },
  ({ params, actor, clientIp }) => getVmMedia(params.id, { actor, clientIp }),
);

// {imageId}: an ISO of the VM's architecture goes in the drive (live on a running VM).
export const POST = apiRoute<{ id: string }>(
  { permission: "vm:operate", action: "vm.media.insert", targetType: "vm" },
  async ({ req, params, actor, clientIp }) => {
    const { imageId } = await readJson(req, insertMediaSchema);
    return insertMedia(params.id, imageId, { actor, clientIp });
  },
);

export const DELETE = apiRoute<{ id: string }>(
  { permission: "vm:operate", action: "vm.media.eject", targetType: "vm" },
  ({ params, actor, clientIp }) => ejectMedia(params.id, { actor, clientIp }),
);
