import { apiRoute } from "@/lib/server/web";
import { detachVolume } from "@/lib/server/volumes";

// Detach (unplug from a running VM); the volume stays on its host, available.
export const DELETE = apiRoute<{ id: string; volumeId: string }>(
  { permission: "vm:operate", action: "volume.detach", targetType: "vm" },
  ({ params, actor, clientIp }) => detachVolume(params.id, params.volumeId, { actor, clientIp }),
);
