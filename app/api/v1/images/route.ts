import { NextResponse } from "next/server";
import { apiRoute } from "@/lib/server/web";
import { parseQuery, toJsonSafe } from "@/lib/server/platform";
import { imageListQuery } from "@/lib/schemas/entities";
import { listImages } from "@/lib/server/images";
import { uploadImage } from "@/lib/server/images";

// Only the images the caller may see (lib/server/images/visibility.ts).
export const GET = apiRoute({ permission: "read", action: "image.list" }, ({ req, actor }) =>
  listImages(parseQuery(req, imageListQuery), actor),
);

/** Streamed multipart/form-data upload (the body is never buffered whole); see lib/server/images/upload.ts. */
export const POST = apiRoute(
  { permission: "image:manage", action: "image.upload", targetType: "image", body: "multipart" },
  async ({ req, actor, clientIp }) =>
    NextResponse.json(toJsonSafe(await uploadImage(req, { actor, clientIp })), { status: 201 }),
);
