import { apiRoute } from "@/lib/server/web";
import { readJson } from "@/lib/server/platform";
import { growVolumeSchema } from "@/lib/schemas/volumes";
import { deleteVolume, getVolume, growVolume, requireVolumeAccess } from "@/lib/server/volumes";

// A volume outside the caller's projects is a 404, like one that does not exist.
export const GET = apiRoute<{ id: string }>(
  { permission: "read", action: "volume.get", targetType: "volume" },
  async ({ params, actor, clientIp }) => {
    await requireVolumeAccess(actor, params.id, "read", { action: "volume.get", clientIp });
    return getVolume(params.id);
  },
);

// {sizeGb}: volumes only grow (409 for a smaller size, or when the host lacks the room).
export const PATCH = apiRoute<{ id: string }>(
  { permission: "vm:operate", action: "volume.grow", targetType: "volume" },
  async ({ req, params, actor, clientIp }) => {
    const { sizeGb } = await readJson(req, growVolumeSchema);
    return growVolume(params.id, sizeGb, { actor, clientIp });
  },
);

// 409 while attached: detach it first.
export const DELETE = apiRoute<{ id: string }>(
  { permission: "vm:operate", action: "volume.delete", targetType: "volume" },
  ({ params, actor, clientIp }) => deleteVolume(params.id, { actor, clientIp }),
);
