import { apiRoute } from "@/lib/server/http";
import { getHost } from "@/lib/server/hosts";

export const GET = apiRoute<{ id: string }>({ permission: "read", action: "host.get", targetType: "host" }, ({ params }) => getHost(params.id));
