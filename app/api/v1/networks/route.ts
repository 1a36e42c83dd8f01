import { apiRoute } from "@/lib/server/web";
import { parseQuery, readJson, toJsonSafe } from "@/lib/server/platform";
import { createNetworkSchema, networkListQuery } from "@/lib/schemas/networks";
import { createNetwork, listNetworks } from "@/lib/server/networks";

export const GET = apiRoute({ permission: "read", action: "network.list" }, ({ req }) =>
  listNetworks(parseQuery(req, networkListQuery)),
);

export const POST = apiRoute(
  { permission: "network:manage", action: "network.create", targetType: "network" },
  async ({ req, actor, clientIp }) => {
    const input = await readJson(req, createNetworkSchema);
    return Response.json(toJsonSafe(await createNetwork(input, { actor, clientIp })), { status: 201 });
  },
);
