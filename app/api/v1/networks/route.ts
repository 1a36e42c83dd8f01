import { apiRoute } from "@/lib/server/web";
import { parseQuery, readJson, toJsonSafe } from "@/lib/server/platform";
import { createNetworkSchema, networkListQuery } from "@/lib/schemas/networks";
import { createNetwork, listNetworks } from "@/lib/server/networks";

// Shared networks and the caller's projects' (admins: all); lib/server/networks/tenancy.ts.
export const GET = apiRoute({ permission: "read", action: "network.list" }, ({ req, actor }) =>
  listNetworks(parseQuery(req, networkListQuery), actor),
);

// "vm:create" (operators and admins) lets the request in; createNetwork then allows operators only
// project networks of their own projects and admins everything (shared networks included).
export const POST = apiRoute(
  { permission: "vm:create", action: "network.create", targetType: "network" },
  async ({ req, actor, clientIp }) => {
    const input = await readJson(req, createNetworkSchema);
    return Response.json(toJsonSafe(await createNetwork(input, { actor, clientIp })), { status: 201 });
  },
);
