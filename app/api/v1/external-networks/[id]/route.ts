import { apiRoute } from "@/lib/server/web";
import { deleteExternalNetwork, getExternalNetwork } from "@/lib/server/routers";

export const GET = apiRoute<{ id: string }>(
  { permission: "read", action: "externalNetwork.get", targetType: "externalNetwork" },
  ({ params }) => getExternalNetwork(params.id),
);

// 409 while routers or floating IPs use it.
export const DELETE = apiRoute<{ id: string }>(
  { permission: "network:manage", action: "externalNetwork.delete", targetType: "externalNetwork" },
  ({ params, actor, clientIp }) => deleteExternalNetwork({ actor, clientIp }, params.id),
);
