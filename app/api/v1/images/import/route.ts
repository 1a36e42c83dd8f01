import { NextResponse } from "next/server";
import { apiRoute, readJson, toJsonSafe } from "@/lib/server/http";
import { importImageSchema } from "@/lib/schemas/images";
import { importImage } from "@/lib/server/image-upload";

// Reading files on the controller is a controller-administration privilege: admins only
// ("host:manage" is granted to admins alone), never operators.
export const POST = apiRoute({ permission: "host:manage", action: "image.import", targetType: "image" }, async ({ req, actor, clientIp }) =>
  NextResponse.json(toJsonSafe(await importImage(await readJson(req, importImageSchema), { actor, clientIp })), { status: 201 }),
);
