import { apiRoute } from "@/lib/server/web";
import { readJson, toJsonSafe } from "@/lib/server/platform";
import { createSecurityGroupRuleSchema } from "@/lib/schemas/security-groups";
import { addSecurityGroupRule, getSecurityGroup } from "@/lib/server/security-groups";

export const GET = apiRoute<{ id: string }>(
  { permission: "read", action: "securityGroup.rule.list", targetType: "securityGroup" },
  async ({ params, actor, clientIp }) => {
    const g = await getSecurityGroup({ actor, clientIp }, params.id);
    return { items: g.rules, total: g.rules.length };
  },
);

// A new rule applies live: the ports of the group's VMs are re-programmed before the answer.
export const POST = apiRoute<{ id: string }>(
  { permission: "vm:create", action: "securityGroup.rule.create", targetType: "securityGroup" },
  async ({ req, params, actor, clientIp }) => {
    const input = await readJson(req, createSecurityGroupRuleSchema);
    return Response.json(toJsonSafe(await addSecurityGroupRule({ actor, clientIp }, params.id, input)), {
      status: 201,
    });
  },
);
