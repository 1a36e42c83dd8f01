import { apiRoute } from "@/lib/server/web";
import { readJson } from "@/lib/server/platform";
import { updateNetworkSchema } from "@/lib/schemas/networks";
import { deleteNetwork, getNetwork, updateNetwork } from "@/lib/server/networks";

export const GET = apiRoute<{ id: string }>(
  { permission: "read", action: "network.get", targetType: "network" },
  ({ params, actor }) => getNetwork(params.id, actor),
);

export const PATCH = apiRoute<{ id: string }>(
  // Operators pass here; updateNetwork/deleteNetwork allow them only their projects' networks (tenancy.ts).
  { permission: "vm:create", action: "network.update", targetType: "network" },
  async ({ req, params, actor, clientIp }) =>
    updateNetwork(params.id, await readJson(req, updateNetworkSchema), { actor, clientIp }),
);

export const DELETE = apiRoute<{ id: string }>(
  { permission: "vm:create", action: "network.delete", targetType: "network" },
  ({ params, actor, clientIp }) => deleteNetwork(params.id, { actor, clientIp }),
);
