import { apiRoute } from "@/lib/server/web";
import { deleteSecurityGroupRule } from "@/lib/server/security-groups";

export const DELETE = apiRoute<{ id: string; ruleId: string }>(
  { permission: "vm:create", action: "securityGroup.rule.delete", targetType: "securityGroup" },
  ({ params, actor, clientIp }) => deleteSecurityGroupRule({ actor, clientIp }, params.id, params.ruleId),
);
