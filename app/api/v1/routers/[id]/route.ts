import { apiRoute } from "@/lib/server/web";
import { readJson } from "@/lib/server/platform";
import { updateRouterSchema } from "@/lib/schemas/routers";
import { deleteRouter, getRouter, updateRouter } from "@/lib/server/routers";

export const GET = apiRoute<{ id: string }>(
  { permission: "read", action: "router.get", targetType: "router" },
  ({ params, actor, clientIp }) => getRouter({ actor, clientIp }, params.id),
);

// The domain checks the network's project and the caller's role (lib/server/networks/tenancy.ts).
export const PATCH = apiRoute<{ id: string }>(
  { permission: "vm:create", action: "router.update", targetType: "router" },
  async ({ req, params, actor, clientIp }) =>
    updateRouter({ actor, clientIp }, params.id, await readJson(req, updateRouterSchema)),
);

// 409 while floating IPs are mapped through it.
export const DELETE = apiRoute<{ id: string }>(
  { permission: "vm:create", action: "router.delete", targetType: "router" },
  ({ params, actor, clientIp }) => deleteRouter({ actor, clientIp }, params.id),
);
