import { apiRoute } from "@/lib/server/web";
import { parseOrThrow } from "@/lib/server/platform";
import { familyParamSchema } from "@/lib/schemas/images";
import { getImageFamily } from "@/lib/server/images";

export const GET = apiRoute<{ family: string }>(
  { permission: "read", action: "image-family.get", targetType: "image-family" },
  ({ params, actor }) => getImageFamily(parseOrThrow(familyParamSchema, params, "family").family, actor),
);
