import { apiRoute } from "@/lib/server/web";
import { readJson, toJsonSafe } from "@/lib/server/platform";
import { createExternalNetworkSchema } from "@/lib/schemas/routers";
import { createExternalNetwork, listExternalNetworks } from "@/lib/server/routers";

// Everyone signed in lists them (to pick one for a router or a floating IP); lib/server/routers (ADR 059).
export const GET = apiRoute({ permission: "read", action: "externalNetwork.list" }, async () => {
  const items = await listExternalNetworks();
  return { items, total: items.length };
});

// The provider's networks: admins only ("network:manage"), checked again by the domain.
export const POST = apiRoute(
  { permission: "network:manage", action: "externalNetwork.create", targetType: "externalNetwork" },
  async ({ req, actor, clientIp }) => {
    const input = await readJson(req, createExternalNetworkSchema);
    return Response.json(toJsonSafe(await createExternalNetwork(input, { actor, clientIp })), { status: 201 });
  },
);
