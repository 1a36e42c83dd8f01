import { apiRoute } from "@/lib/server/web";
import { deleteSecurityGroup, getSecurityGroup } from "@/lib/server/security-groups";

export const GET = apiRoute<{ id: string }>(
  { permission: "read", action: "securityGroup.get", targetType: "securityGroup" },
  ({ params, actor, clientIp }) => getSecurityGroup({ actor, clientIp }, params.id),
);

// Refused (409) while VMs are in the group; the domain checks project and role.
export const DELETE = apiRoute<{ id: string }>(
  { permission: "vm:create", action: "securityGroup.delete", targetType: "securityGroup" },
  ({ params, actor, clientIp }) => deleteSecurityGroup({ actor, clientIp }, params.id),
);
