import { apiRoute } from "@/lib/server/web";
import { readJson } from "@/lib/server/platform";
import { updateNetworkSchema } from "@/lib/schemas/networks";
import { deleteNetwork, getNetwork, updateNetwork } from "@/lib/server/networks";

export const GET = apiRoute<{ id: string }>(
  { permission: "read", action: "network.get", targetType: "network" },
  ({ params }) => getNetwork(params.id),
);

export const PATCH = apiRoute<{ id: string }>(
  { permission: "network:manage", action: "network.update", targetType: "network" },
  async ({ req, params, actor, clientIp }) =>
    updateNetwork(params.id, await readJson(req, updateNetworkSchema), { actor, clientIp }),
);

export const DELETE = apiRoute<{ id: string }>(
  { permission: "network:manage", action: "network.delete", targetType: "network" },
  ({ params, actor, clientIp }) => deleteNetwork(params.id, { actor, clientIp }),
);
