import { apiRoute } from "@/lib/server/web";
import { readJson } from "@/lib/server/platform";
import { imageEvictRequestSchema } from "@/lib/schemas/host-images";
import { evictImageFromHost } from "@/lib/server/images";

// Removes the image's cached copy from one host (audited in evictImageFromHost).
export const POST = apiRoute<{ id: string }>(
  { permission: "image:manage", action: "image.evict", targetType: "image" },
  async ({ req, params, actor, clientIp }) => {
    const { hostId } = await readJson(req, imageEvictRequestSchema);
    return evictImageFromHost(params.id, hostId, { actor, clientIp });
  },
);
