// Security groups (issue 18, ADR 052): the API shapes the console and `/api/v1/security-groups` accept,
// and the per-port firewall the controller sends to an agent (`PUT /v1/vms/:id/nics/:nicId/firewall`).
// Rules only allow; a port with a firewall denies every new inbound connection no rule allows and
// (with no egress rule) every new outbound one. Replies of allowed connections always pass (conntrack).
import { z } from "zod";
import { timestamp } from "./dto";
import { displayNameSchema } from "./display-name";

export const SG_PROTOCOLS = ["tcp", "udp", "icmp", "any"] as const;
export const SG_DIRECTIONS = ["in", "out"] as const;
/** after remote groups are expanded to addresses: more would make the OpenFlow table unwieldy */
export const MAX_PORT_FIREWALL_RULES = 256;

const ipv4Octets = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** An IPv4 CIDR ("10.0.0.0/24", "0.0.0.0/0"); a bare address means /32. Host bits must be zero. */
export const ipv4CidrSchema = z
  .string()
  .trim()
  .transform((s) => (s.includes("/") ? s : `${s}/32`))
  .refine((s) => {
    const [ip = "", len = ""] = s.split("/");
    if (!ipv4Octets.test(ip) || !/^(\d|[12]\d|3[0-2])$/.test(len)) return false;
    const n = ip.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
    const hostBits = 32 - Number(len);
    return hostBits === 32 ? n === 0 : n % 2 ** hostBits === 0;
  }, "must be an IPv4 CIDR like 10.0.0.0/24 with the host bits zero (or one address)");

const port = z.number().int().min(1).max(65535);

/** One rule as the agent applies it: remote groups already expanded into CIDRs by the controller. */
export const portFirewallRuleSchema = z
  .object({
    direction: z.enum(SG_DIRECTIONS),
    protocol: z.enum(SG_PROTOCOLS),
    portMin: port.optional(),
    portMax: port.optional(),
    /** empty = no address matches (a remote group without members) */
    remoteCidrs: z.array(ipv4CidrSchema).max(MAX_PORT_FIREWALL_RULES),
  })
  .strict()
  .superRefine((r, ctx) => checkPorts(r, ctx));

export const portFirewallSchema = z
  .object({ rules: z.array(portFirewallRuleSchema).max(MAX_PORT_FIREWALL_RULES) })
  .strict()
  .refine(
    (f) => f.rules.reduce((n, r) => n + Math.max(1, r.remoteCidrs.length), 0) <= MAX_PORT_FIREWALL_RULES,
    `at most ${MAX_PORT_FIREWALL_RULES} rule × address combinations per port`,
  );
export type PortFirewallRule = z.output<typeof portFirewallRuleSchema>;
export type PortFirewall = z.output<typeof portFirewallSchema>;

function checkPorts(
  r: { protocol: string; portMin?: number | undefined; portMax?: number | undefined },
  ctx: z.RefinementCtx,
) {
  const hasPorts = r.portMin !== undefined || r.portMax !== undefined;
  if (hasPorts && r.protocol !== "tcp" && r.protocol !== "udp")
    ctx.addIssue({ code: "custom", path: ["portMin"], message: "ports apply only to tcp and udp rules" });
  if ((r.portMin === undefined) !== (r.portMax === undefined))
    ctx.addIssue({ code: "custom", path: ["portMax"], message: "give both portMin and portMax (equal for one port)" });
  if (r.portMin !== undefined && r.portMax !== undefined && r.portMin > r.portMax)
    ctx.addIssue({ code: "custom", path: ["portMax"], message: "portMax must be at least portMin" });
}

// ---- the controller's API ------------------------------------------------------------------------

// Any script, as VM, network and project names (ADR 056): 数据库-入站 is a fine group name.
const name = displayNameSchema(64);

export const createSecurityGroupSchema = z
  .object({
    name,
    description: z.string().trim().max(255).optional(),
    /** absent = the caller's default project; admins may give any project */
    projectId: z.string().trim().min(1).max(64).optional(),
  })
  .strict();
export type CreateSecurityGroupInput = z.output<typeof createSecurityGroupSchema>;

export const createSecurityGroupRuleSchema = z
  .object({
    direction: z.enum(SG_DIRECTIONS),
    protocol: z.enum(SG_PROTOCOLS),
    portMin: port.optional(),
    portMax: port.optional(),
    remoteCidr: ipv4CidrSchema.optional(),
    remoteGroupId: z.string().trim().min(1).max(64).optional(),
  })
  .strict()
  .superRefine((r, ctx) => {
    checkPorts(r, ctx);
    if (r.remoteCidr !== undefined && r.remoteGroupId !== undefined)
      ctx.addIssue({ code: "custom", path: ["remoteGroupId"], message: "give remoteCidr or remoteGroupId, not both" });
  });
export type CreateSecurityGroupRuleInput = z.output<typeof createSecurityGroupRuleSchema>;

export const setVmSecurityGroupsSchema = z
  .object({ securityGroupIds: z.array(z.string().trim().min(1).max(64)).max(16) })
  .strict()
  .refine((v) => new Set(v.securityGroupIds).size === v.securityGroupIds.length, "each group at most once");
export type SetVmSecurityGroupsInput = z.output<typeof setVmSecurityGroupsSchema>;

// ---- the console's server actions (the same calls as the API) ---------------------------------------

const ref = z.string().trim().min(1).max(64);
export const securityGroupRefSchema = z.object({ id: ref }).strict();
export const addSecurityGroupRuleActionSchema = z
  .object({ groupId: ref, rule: createSecurityGroupRuleSchema })
  .strict();
export const deleteSecurityGroupRuleActionSchema = z.object({ groupId: ref, ruleId: ref }).strict();
export const setVmSecurityGroupsActionSchema = z
  .object({ id: ref, securityGroupIds: z.array(ref).max(16) })
  .strict()
  .refine((v) => new Set(v.securityGroupIds).size === v.securityGroupIds.length, "each group at most once");

// ---- responses (lib/openapi.ts documents them) ------------------------------------------------------

export const securityGroupRuleDtoSchema = z.object({
  id: z.string(),
  direction: z.enum(SG_DIRECTIONS),
  protocol: z.enum(SG_PROTOCOLS),
  portMin: z.number().int().nullable(),
  portMax: z.number().int().nullable(),
  remoteCidr: z.string().nullable().describe("null with remoteGroupId null: anywhere"),
  remoteGroupId: z.string().nullable(),
  createdAt: timestamp,
});
export const securityGroupDtoSchema = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  projectId: z.string(),
  vmCount: z.number().int().describe("VMs in this group"),
  rules: z.array(securityGroupRuleDtoSchema),
  createdAt: timestamp,
  updatedAt: timestamp,
});
export const securityGroupListDtoSchema = z.object({ items: z.array(securityGroupDtoSchema), total: z.number().int() });
export const securityGroupRuleListDtoSchema = z.object({
  items: z.array(securityGroupRuleDtoSchema),
  total: z.number().int(),
});
export const vmSecurityGroupsDtoSchema = z.object({ vmId: z.string(), securityGroupIds: z.array(z.string()) });
