import { apiRoute } from "@/lib/server/web";
import { readJson } from "@/lib/server/platform";
import { getImage } from "@/lib/server/images";
import { imagePatchSchema } from "@/lib/schemas/images";
import { deleteImage, updateImage } from "@/lib/server/images";

export const GET = apiRoute<{ id: string }>(
  { permission: "read", action: "image.get", targetType: "image" },
  ({ params }) => getImage(params.id),
);

export const PATCH = apiRoute<{ id: string }>(
  { permission: "image:manage", action: "image.update", targetType: "image" },
  async ({ req, params, actor, clientIp }) =>
    updateImage(params.id, await readJson(req, imagePatchSchema), { actor, clientIp }),
);

export const DELETE = apiRoute<{ id: string }>(
  { permission: "image:manage", action: "image.delete", targetType: "image" },
  ({ params, actor, clientIp }) => deleteImage(params.id, { actor, clientIp }),
);
