import { apiRoute } from "@/lib/server/web";
import { readJson } from "@/lib/server/platform";
import { updateFloatingIpSchema } from "@/lib/schemas/routers";
import { deleteFloatingIp, getFloatingIp, updateFloatingIp } from "@/lib/server/routers";

export const GET = apiRoute<{ id: string }>(
  { permission: "read", action: "floatingIp.get", targetType: "floatingIp" },
  ({ params, actor, clientIp }) => getFloatingIp({ actor, clientIp }, params.id),
);

// {nicId} maps to a NIC, {nicId: null} unmaps; the domain checks project, role and the NIC's router.
export const PATCH = apiRoute<{ id: string }>(
  { permission: "vm:create", action: "floatingIp.update", targetType: "floatingIp" },
  async ({ req, params, actor, clientIp }) =>
    updateFloatingIp({ actor, clientIp }, params.id, await readJson(req, updateFloatingIpSchema)),
);

// Releases the address (unmapping it first).
export const DELETE = apiRoute<{ id: string }>(
  { permission: "vm:create", action: "floatingIp.delete", targetType: "floatingIp" },
  ({ params, actor, clientIp }) => deleteFloatingIp({ actor, clientIp }, params.id),
);
