import { apiRoute } from "@/lib/server/web";
import { readJson } from "@/lib/server/platform";
import { getVisibleImage } from "@/lib/server/images";
import { imagePatchSchema } from "@/lib/schemas/images";
import { deleteImage, updateImage } from "@/lib/server/images";

export const GET = apiRoute<{ id: string }>(
  { permission: "read", action: "image.get", targetType: "image" },
  ({ params, actor }) => getVisibleImage(params.id, actor),
);

// PATCH and DELETE: only the image's owner or an admin (lib/server/images/visibility.ts); an image
// the caller may not see answers 404.
export const PATCH = apiRoute<{ id: string }>(
  { permission: "image:manage", action: "image.update", targetType: "image" },
  async ({ req, params, actor, clientIp }) =>
    updateImage(params.id, await readJson(req, imagePatchSchema), { actor, clientIp }),
);

export const DELETE = apiRoute<{ id: string }>(
  { permission: "image:manage", action: "image.delete", targetType: "image" },
  ({ params, actor, clientIp }) => deleteImage(params.id, { actor, clientIp }),
);
