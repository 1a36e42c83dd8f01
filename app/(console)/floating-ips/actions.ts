"use server";
// Floating IPs page: the same lib/server/routers calls as /api/v1/{external-networks,routers,floating-ips}
// (issue 18, ADR 058). "vm:create" lets operators and admins in for routers and floating IPs; the domain
// allows operators only their projects' networks and addresses. External networks are the admins'
// ("network:manage"). The domain re-checks everything.
import { defineAction } from "@/lib/server/web";
import {
  createExternalNetworkSchema,
  createFloatingIpSchema,
  createRouterSchema,
  mapFloatingIpActionSchema,
  routingRefSchema,
  updateRouterActionSchema,
} from "@/lib/schemas/routers";
import {
  createExternalNetwork,
  createFloatingIp,
  createRouter,
  deleteExternalNetwork,
  deleteFloatingIp,
  deleteRouter,
  updateFloatingIp,
  updateRouter,
} from "@/lib/server/routers";

const revalidate = ["/floating-ips"];
const external = { permission: "network:manage" as const, targetType: "externalNetwork", revalidate };
const router = { permission: "vm:create" as const, targetType: "router", revalidate };
const floating = { permission: "vm:create" as const, targetType: "floatingIp", revalidate };

export const createExternalNetworkAction = defineAction(
  { ...external, schema: createExternalNetworkSchema, action: "externalNetwork.create" },
  (input, who) => createExternalNetwork(input, who),
);

export const deleteExternalNetworkAction = defineAction(
  { ...external, schema: routingRefSchema, action: "externalNetwork.delete" },
  (input, who) => deleteExternalNetwork(who, input.id),
);

export const createRouterAction = defineAction(
  { ...router, schema: createRouterSchema, action: "router.create" },
  (input, who) => createRouter(input, who),
);

export const updateRouterAction = defineAction(
  { ...router, schema: updateRouterActionSchema, action: "router.update" },
  (input, who) => updateRouter(who, input.id, { snat: input.snat }),
);

export const deleteRouterAction = defineAction(
  { ...router, schema: routingRefSchema, action: "router.delete" },
  (input, who) => deleteRouter(who, input.id),
);

export const createFloatingIpAction = defineAction(
  { ...floating, schema: createFloatingIpSchema, action: "floatingIp.create" },
  (input, who) => createFloatingIp(input, who),
);

export const mapFloatingIpAction = defineAction(
  { ...floating, schema: mapFloatingIpActionSchema, action: "floatingIp.update" },
  (input, who) => updateFloatingIp(who, input.id, { nicId: input.nicId }),
);

export const deleteFloatingIpAction = defineAction(
  { ...floating, schema: routingRefSchema, action: "floatingIp.delete" },
  (input, who) => deleteFloatingIp(who, input.id),
);
