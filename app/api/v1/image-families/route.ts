import { apiRoute } from "@/lib/server/web";
import { listImageFamilies } from "@/lib/server/images";

export const GET = apiRoute({ permission: "read", action: "image-family.list" }, () => listImageFamilies());
