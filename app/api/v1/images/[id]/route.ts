import { apiRoute } from "@/lib/server/http";
import { getImage } from "@/lib/server/images";

export const GET = apiRoute<{ id: string }>({ permission: "read", action: "image.get", targetType: "image" }, ({ params }) => getImage(params.id));
