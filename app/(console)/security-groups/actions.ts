"use server";
// Security groups page: the same lib/server/security-groups calls as /api/v1/security-groups (ADR 052).
// "vm:create" lets operators and admins in; the domain allows operators only their projects' groups.
import { defineAction } from "@/lib/server/web";
import {
  addSecurityGroupRuleActionSchema,
  createSecurityGroupSchema,
  deleteSecurityGroupRuleActionSchema,
  securityGroupRefSchema,
  setVmSecurityGroupsActionSchema,
} from "@/lib/schemas/security-groups";
import {
  addSecurityGroupRule,
  createSecurityGroup,
  deleteSecurityGroup,
  deleteSecurityGroupRule,
  setVmSecurityGroups,
} from "@/lib/server/security-groups";

const base = { permission: "vm:create" as const, targetType: "securityGroup", revalidate: ["/security-groups"] };

export const createSecurityGroupAction = defineAction(
  { ...base, schema: createSecurityGroupSchema, action: "securityGroup.create" },
  (input, who) => createSecurityGroup(input, who),
);

export const deleteSecurityGroupAction = defineAction(
  { ...base, schema: securityGroupRefSchema, action: "securityGroup.delete" },
  (input, who) => deleteSecurityGroup(who, input.id),
);

export const addSecurityGroupRuleAction = defineAction(
  { ...base, schema: addSecurityGroupRuleActionSchema, action: "securityGroup.rule.create" },
  (input, who) => addSecurityGroupRule(who, input.groupId, input.rule),
);

export const deleteSecurityGroupRuleAction = defineAction(
  { ...base, schema: deleteSecurityGroupRuleActionSchema, action: "securityGroup.rule.delete" },
  (input, who) => deleteSecurityGroupRule(who, input.groupId, input.ruleId),
);

export const setVmSecurityGroupsAction = defineAction(
  {
    ...base,
    permission: "vm:operate",
    targetType: "vm",
    schema: setVmSecurityGroupsActionSchema,
    action: "vm.securityGroups",
  },
  (input, who) => setVmSecurityGroups(who, input.id, input.securityGroupIds),
);
