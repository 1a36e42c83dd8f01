import { apiRoute } from "@/lib/server/http";
import { listImageFamilies } from "@/lib/server/image-families";

export const GET = apiRoute({ permission: "read", action: "image-family.list" }, () => listImageFamilies());
