import { apiRoute, parseOrThrow } from "@/lib/server/http";
import { familyParamSchema } from "@/lib/schemas/images";
import { getImageFamily } from "@/lib/server/image-families";

export const GET = apiRoute<{ family: string }>({ permission: "read", action: "image-family.get", targetType: "image-family" }, ({ params }) =>
  getImageFamily(parseOrThrow(familyParamSchema, params, "family").family),
);
