import { apiRoute } from "@/lib/server/web";
import { readJson, toJsonSafe } from "@/lib/server/platform";
import { createRouterSchema } from "@/lib/schemas/routers";
import { createRouter, listRouters } from "@/lib/server/routers";

// Routers of the networks the caller sees; lib/server/routers (ADR 059).
export const GET = apiRoute({ permission: "read", action: "router.list" }, async ({ actor }) => {
  const items = await listRouters(actor);
  return { items, total: items.length };
});

// "vm:create" (operators, admins) lets the request in; the domain allows who may change the network.
export const POST = apiRoute(
  { permission: "vm:create", action: "router.create", targetType: "router" },
  async ({ req, actor, clientIp }) => {
    const input = await readJson(req, createRouterSchema);
    return Response.json(toJsonSafe(await createRouter(input, { actor, clientIp })), { status: 201 });
  },
);
