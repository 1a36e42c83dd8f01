// Public surface of lib/server/security-groups (issue 18, ADR 052): groups, rules, VM membership, and
// the push of each NIC port's firewall to its agent.
export {
  addSecurityGroupRule,
  createSecurityGroup,
  deleteSecurityGroup,
  deleteSecurityGroupRule,
  getSecurityGroup,
  listSecurityGroups,
  type SecurityGroupDto,
} from "./groups";
export {
  retryStaleFirewalls,
  setVmSecurityGroups,
  syncVmFirewalls,
  vmSecurityGroupIds,
  type SyncResult,
} from "./firewall";
