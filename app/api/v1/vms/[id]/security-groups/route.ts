import { apiRoute } from "@/lib/server/web";
import { readJson } from "@/lib/server/platform";
import { setVmSecurityGroupsSchema } from "@/lib/schemas/security-groups";
import { setVmSecurityGroups, vmSecurityGroupIds } from "@/lib/server/security-groups";

export const GET = apiRoute<{ id: string }>(
  { permission: "read", action: "vm.securityGroups.read", targetType: "vm" },
  ({ params, actor, clientIp }) => vmSecurityGroupIds({ actor, clientIp }, params.id),
);

// The VM's groups become exactly these (its own project's); its ports change live, no restart.
export const PUT = apiRoute<{ id: string }>(
  { permission: "vm:operate", action: "vm.securityGroups", targetType: "vm" },
  async ({ req, params, actor, clientIp }) => {
    const { securityGroupIds } = await readJson(req, setVmSecurityGroupsSchema);
    return setVmSecurityGroups({ actor, clientIp }, params.id, securityGroupIds);
  },
);
