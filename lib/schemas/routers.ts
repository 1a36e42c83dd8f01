// External networks, routers and floating IPs (issue 18, ADR 059): the shapes the console and
// /api/v1/external-networks, /api/v1/routers and /api/v1/floating-ips accept and answer.
import { z } from "zod";
import { canonicalIpv4, formatIpv4, parseCidr, validateNetworkPlan } from "../ipam";
import { displayNameSchema } from "./display-name";
import { timestamp } from "./dto";

const id = (what: string) =>
  z
    .string({ error: `${what} is required` })
    .trim()
    .min(1, `${what} is required`)
    .max(64, `${what} is at most 64 characters`);

const ip = (label: string) =>
  z
    .string({ error: `${label} is required` })
    .trim()
    .max(15, `${label} is at most 15 characters (a.b.c.d)`)
    .refine((v) => canonicalIpv4(v) !== null, { error: (i) => `${label} "${String(i.input)}" is not an IPv4 address` })
    .transform((v) => canonicalIpv4(v)!);

/** "" and null = not given. */
const optionalIp = (label: string) =>
  z.preprocess((v) => (typeof v === "string" && v.trim() === "" ? null : v), ip(label).nullable().optional());

/**
 * An external network's addressing, checked like a network's (lib/ipam.ts) except that the gateway is
 * optional: without one, routers reach only the external subnet itself (no default route).
 */
export function externalPlanIssues(v: {
  cidr: string;
  gateway?: string | null | undefined;
  poolStart?: string | null | undefined;
  poolEnd?: string | null | undefined;
}): Array<{ field: string; message: string }> {
  const parsed = parseCidr(v.cidr);
  if (!parsed.ok) return [{ field: "cidr", message: parsed.error }];
  // Without a gateway, check the pool against the first usable address and ignore what concerns it.
  const stand = v.gateway ?? formatIpv4(parsed.cidr.network + 1);
  const r = validateNetworkPlan({ cidr: v.cidr, gateway: stand, poolStart: v.poolStart, poolEnd: v.poolEnd });
  if (r.ok) return [];
  return r.issues.filter((i) => v.gateway || (i.field !== "gateway" && !i.message.includes("only the gateway")));
}

export const createExternalNetworkSchema = z
  .object({
    name: displayNameSchema(63),
    cidr: z
      .string({ error: "CIDR is required, e.g. 203.0.113.0/24" })
      .trim()
      .min(1, "CIDR is required, e.g. 203.0.113.0/24")
      .max(18, "CIDR is at most 18 characters (a.b.c.d/nn)"),
    gateway: optionalIp("gateway"),
    poolStart: optionalIp("pool start"),
    poolEnd: optionalIp("pool end"),
  })
  .strict()
  .superRefine((v, ctx) => {
    // Format errors of an address are already reported by its field.
    for (const issue of externalPlanIssues(v).filter((i) => !i.message.includes("is not an IPv4 address")))
      ctx.addIssue({ code: "custom", path: [issue.field], message: issue.message });
  })
  .transform((v) => {
    const cidr = parseCidr(v.cidr);
    if (!cidr.ok) throw new Error("unreachable: invalid CIDR passed validation");
    const first = cidr.cidr.network + 1;
    const last = cidr.cidr.broadcast - 1;
    return {
      name: v.name,
      cidr: cidr.cidr.text,
      gateway: v.gateway ?? null,
      poolStart: v.poolStart ?? formatIpv4(first),
      poolEnd: v.poolEnd ?? formatIpv4(last),
    };
  });
export type CreateExternalNetworkInput = z.output<typeof createExternalNetworkSchema>;

export const createRouterSchema = z
  .object({
    name: displayNameSchema(63),
    /** the network it routes for (one router per network) */
    networkId: id("networkId"),
    externalNetworkId: id("externalNetworkId"),
    /** default true: VMs without a floating IP reach the outside through the host's router address */
    snat: z.boolean().default(true),
  })
  .strict();
export type CreateRouterInput = z.output<typeof createRouterSchema>;

export const updateRouterSchema = z
  .object({ name: displayNameSchema(63).optional(), snat: z.boolean().optional() })
  .strict()
  .refine((v) => v.name !== undefined || v.snat !== undefined, "give at least one of: name, snat");
export type UpdateRouterInput = z.output<typeof updateRouterSchema>;

export const createFloatingIpSchema = z
  .object({
    externalNetworkId: id("externalNetworkId"),
    /** absent = the caller's first project; admins may give any project */
    projectId: id("projectId").optional(),
    description: z.string().trim().max(255, "description is at most 255 characters").optional(),
    /** associate at once (see updateFloatingIpSchema) */
    nicId: id("nicId").optional(),
  })
  .strict();
export type CreateFloatingIpInput = z.output<typeof createFloatingIpSchema>;

/** PATCH /api/v1/floating-ips/:id: map to a NIC (string) or unmap (null). */
export const updateFloatingIpSchema = z
  .object({
    nicId: id("nicId").nullable().optional(),
    description: z.string().trim().max(255, "description is at most 255 characters").nullable().optional(),
  })
  .strict()
  .refine((v) => v.nicId !== undefined || v.description !== undefined, "give at least one of: nicId, description");
export type UpdateFloatingIpInput = z.output<typeof updateFloatingIpSchema>;

export const externalNetworkDtoSchema = z.object({
  id: z.string(),
  name: z.string(),
  cidr: z.string(),
  gateway: z.string().nullable(),
  poolStart: z.string(),
  poolEnd: z.string(),
  poolSize: z.number().int(),
  /** floating IPs and router addresses taken from the pool */
  usedAddresses: z.number().int(),
  routerCount: z.number().int(),
  createdAt: timestamp,
  updatedAt: timestamp,
});
export type ExternalNetworkDto = z.output<typeof externalNetworkDtoSchema>;

export const routerPortDtoSchema = z.object({
  hostId: z.string(),
  hostName: z.string(),
  /** this host's address on the external network: the SNAT source of its VMs */
  address: z.string(),
  /** "active": the host took the current spec; "pending": not pushed yet; "error": see error */
  state: z.enum(["active", "pending", "error"]),
  error: z.string().nullable(),
  appliedAt: timestamp.nullable(),
});

export const routerDtoSchema = z.object({
  id: z.string(),
  name: z.string(),
  networkId: z.string(),
  networkName: z.string(),
  projectId: z.string().nullable(),
  externalNetworkId: z.string(),
  externalNetworkName: z.string(),
  snat: z.boolean(),
  ports: z.array(routerPortDtoSchema),
  createdAt: timestamp,
  updatedAt: timestamp,
});
export type RouterDto = z.output<typeof routerDtoSchema>;

export const floatingIpDtoSchema = z.object({
  id: z.string(),
  address: z.string(),
  externalNetworkId: z.string(),
  externalNetworkName: z.string(),
  projectId: z.string(),
  projectName: z.string(),
  description: z.string().nullable(),
  nicId: z.string().nullable(),
  /** the mapped NIC's VM and fixed address (null when not mapped) */
  vmId: z.string().nullable(),
  vmName: z.string().nullable(),
  fixedIp: z.string().nullable(),
  /** the host whose router answers for it now (null: not mapped or the VM is not placed) */
  hostName: z.string().nullable(),
  createdAt: timestamp,
  updatedAt: timestamp,
});
export type FloatingIpDto = z.output<typeof floatingIpDtoSchema>;

// Console server actions (app/(console)/floating-ips/actions.ts): the API's bodies plus the id the URL carries.

/** { id } of an external network, router or floating IP (delete, release). */
export const routingRefSchema = z.object({ id: id("id") }).strict();

/** Router SNAT on/off (the API's PATCH /api/v1/routers/:id body with its id). */
export const updateRouterActionSchema = z.object({ id: id("id"), snat: z.boolean() }).strict();

/** Map a floating IP to a NIC (string) or unmap it (null). */
export const mapFloatingIpActionSchema = z.object({ id: id("id"), nicId: id("nicId").nullable() }).strict();
