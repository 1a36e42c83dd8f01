import { apiRoute, parseQuery } from "@/lib/server/http";
import { imageListQuery } from "@/lib/schemas/entities";
import { listImages } from "@/lib/server/images";

export const GET = apiRoute({ permission: "read", action: "image.list" }, ({ req }) => listImages(parseQuery(req, imageListQuery)));
