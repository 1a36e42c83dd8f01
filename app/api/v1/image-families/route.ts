import { apiRoute } from "@/lib/server/web";
import { listImageFamilies } from "@/lib/server/images";

// Families built from the images the caller may see only.
export const GET = apiRoute({ permission: "read", action: "image-family.list" }, ({ actor }) =>
  listImageFamilies(actor),
);
