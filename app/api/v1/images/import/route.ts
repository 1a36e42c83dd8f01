import { NextResponse } from "next/server";
import { apiRoute } from "@/lib/server/web";
import { readJson, toJsonSafe } from "@/lib/server/platform";
import { importImageSchema } from "@/lib/schemas/images";
import { importImage } from "@/lib/server/images";

// Reading files on the controller is a controller-administration privilege: admins only
// ("host:manage" is granted to admins alone), never operators. Like an upload, an import gets a
// visibility and a project (default: the admin's first project), resolved in importImage.
export const POST = apiRoute(
  { permission: "host:manage", action: "image.import", targetType: "image" },
  async ({ req, actor, clientIp }) =>
    NextResponse.json(toJsonSafe(await importImage(await readJson(req, importImageSchema), { actor, clientIp })), {
      status: 201,
    }),
);
