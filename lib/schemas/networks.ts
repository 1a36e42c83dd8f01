// Networks (VLAN + IPv4 IPAM): shared by the admin form, server actions and /api/v1/networks.
// Field formats are checked here; the cross-field rules (gateway inside the CIDR, pool order)
// come from lib/ipam.ts so the form, the API and the server say exactly the same thing.
import { z } from "zod";
import { displayNameSchema } from "./display-name";
import { canonicalIpv4, parseCidr, validateNetworkPlan } from "../ipam";
import { listQuerySchema } from "./list";
import { timestamp } from "./dto";

export const VLAN_MIN = 1;
export const VLAN_MAX = 4094;
const VLAN_MESSAGE = `VLAN must be between ${VLAN_MIN} and ${VLAN_MAX}`;

/** A display name in any script (issue 17): nothing technical is derived from a network's name. */
export const networkNameSchema = displayNameSchema(63);

// Coerced so a form's "100" works; "" becomes 0 and gets the range message, not a type error.
export const vlanIdSchema = z.coerce
  .number({ error: `${VLAN_MESSAGE} (a whole number)` })
  .int(`${VLAN_MESSAGE} (a whole number)`)
  .min(VLAN_MIN, VLAN_MESSAGE)
  .max(VLAN_MAX, VLAN_MESSAGE);

const cidrSchema = z
  .string({ error: "CIDR is required, e.g. 10.0.0.0/24" })
  .trim()
  .min(1, "CIDR is required, e.g. 10.0.0.0/24")
  .max(18, "CIDR is at most 18 characters (a.b.c.d/nn)")
  .superRefine((v, ctx) => {
    if (v === "") return; // "required" already said it
    const r = parseCidr(v);
    if (!r.ok) ctx.addIssue({ code: "custom", message: r.error });
  });

const ipSchema = (label: string) =>
  z
    .string({ error: `${label} is required` })
    .trim()
    .min(1, `${label} is required`)
    .max(15, `${label} is at most 15 characters (a.b.c.d)`)
    .refine((v) => canonicalIpv4(v) !== null, { error: (i) => `${label} "${String(i.input)}" is not an IPv4 address` });

/** Optional pool bound: "" and null mean "not given" (create: the default; update: back to the default). */
const optionalIp = (label: string) =>
  z.preprocess((v) => (typeof v === "string" && v.trim() === "" ? null : v), ipSchema(label).nullable().optional());

type PlanInput = { cidr?: unknown; gateway?: unknown; poolStart?: unknown; poolEnd?: unknown };

/**
 * Adds the cross-field issues of lib/ipam.ts at their own fields. Runs even when another field
 * (say the VLAN) failed, so one submit shows every problem; skipped while cidr or gateway are not
 * even strings (their own messages already say what is missing).
 */
function checkPlan(v: PlanInput, ctx: z.RefinementCtx) {
  if (typeof v.cidr !== "string" || typeof v.gateway !== "string") return;
  if (!parseCidr(v.cidr.trim()).ok || canonicalIpv4(v.gateway) === null) return; // already reported by the field
  const str = (x: unknown) => (typeof x === "string" ? x : undefined);
  const r = validateNetworkPlan({
    cidr: v.cidr.trim(),
    gateway: v.gateway.trim(),
    poolStart: str(v.poolStart),
    poolEnd: str(v.poolEnd),
  });
  if (r.ok) return;
  for (const issue of r.issues) {
    // Format errors of a pool bound are already reported by the field itself.
    if (issue.message.includes("is not an IPv4 address")) continue;
    ctx.addIssue({ code: "custom", path: [issue.field], message: issue.message });
  }
}

/**
 * The owning project (lib/server/networks/tenancy.ts): absent, null or "" = shared (admins only);
 * a project id = a project network (its operators and admins).
 */
const networkProjectIdSchema = z.preprocess(
  (v) => (typeof v === "string" && v.trim() === "" ? null : v),
  z.string().trim().min(1).max(64).nullable().optional(),
);

const planWhen = { when: (payload: { value: unknown }) => typeof payload.value === "object" && payload.value !== null };

export const createNetworkSchema = z
  .object({
    name: networkNameSchema,
    vlanId: vlanIdSchema,
    cidr: cidrSchema,
    gateway: ipSchema("gateway"),
    poolStart: optionalIp("pool start"),
    poolEnd: optionalIp("pool end"),
    projectId: networkProjectIdSchema,
  })
  .strict()
  .superRefine((v, ctx) => checkPlan(v, ctx), planWhen)
  .transform((v) => {
    const r = validateNetworkPlan(v);
    // checkPlan already refused every invalid plan; this only fills in the default pool and canonical forms.
    if (!r.ok) throw new Error("unreachable: invalid network plan passed validation");
    return { name: v.name, vlanId: v.vlanId, ...r.plan, projectId: v.projectId ?? null };
  });
export type CreateNetworkInput = z.output<typeof createNetworkSchema>;

/**
 * What an admin may change. undefined = unchanged; poolStart/poolEnd null or "" = back to the
 * default. CIDR, gateway and VLAN can change only while no NIC uses the network (checked by the
 * server, which also re-validates the merged plan with lib/ipam.ts).
 */
export const updateNetworkSchema = z
  .object({
    name: networkNameSchema.optional(),
    vlanId: vlanIdSchema.optional(),
    cidr: cidrSchema.optional(),
    gateway: ipSchema("gateway").optional(),
    poolStart: optionalIp("pool start"),
    poolEnd: optionalIp("pool end"),
  })
  .strict()
  .refine(
    (v) => Object.values(v).some((x) => x !== undefined),
    "give at least one of: name, vlanId, cidr, gateway, poolStart, poolEnd",
  );
export type UpdateNetworkInput = z.output<typeof updateNetworkSchema>;

export const networkIdSchema = z.object({ id: z.string().min(1).max(64) });

export const NETWORK_USAGE = ["in-use", "unused"] as const;
export const networkListQuery = listQuerySchema(["name", "vlanId", "createdAt"] as const, NETWORK_USAGE).omit({
  arch: true,
});
export type NetworkListQuery = z.output<typeof networkListQuery>;

/** Response shape of GET /api/v1/networks(/:id); lib/server/networks' toNetworkDto satisfies it. */
export const networkDtoSchema = z.object({
  id: z.string(),
  name: z.string(),
  vlanId: z.number().int(),
  cidr: z.string(),
  prefixLength: z.number().int(),
  gateway: z.string(),
  poolStart: z.string(),
  poolEnd: z.string(),
  poolSize: z.number().int().describe("Addresses a VM can get (gateway excluded)"),
  usedAddresses: z.number().int(),
  freeAddresses: z.number().int(),
  nicCount: z.number().int(),
  vmCount: z.number().int().describe("VMs with a NIC on this network"),
  projectId: z.string().nullable().describe("Owning project; null = shared (attachable from every project)"),
  projectName: z.string().nullable(),
  createdAt: timestamp,
  updatedAt: timestamp,
});
export type NetworkDto = z.output<typeof networkDtoSchema>;
