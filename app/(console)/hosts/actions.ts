"use server";
import { z } from "zod";
import { ARCHES } from "@/lib/arch";
import { defineAction } from "@/lib/server/web";
import { approveHost, createJoinToken, rejectHost, rotateJoinToken } from "@/lib/server/hosts";

/** A new cluster bootstrap token: answered once, stored only as a hash (ADR 025). */
export const rotateJoinTokenAction = defineAction(
  { schema: z.object({}), permission: "host:manage", action: "cluster.rotate-join-token", revalidate: ["/hosts"] },
  (_input, { actor, clientIp }) => rotateJoinToken(actor, clientIp),
);

/** An expiring (POLYARCH_JOIN_TOKEN_TTL_HOURS, default 24 h), by default single-use join token, optionally for one arch; shown once. */
export const createJoinTokenAction = defineAction(
  {
    schema: z.object({
      singleUse: z.boolean().default(true),
      ttlHours: z
        .number()
        .min(0.1)
        .max(24 * 365)
        .optional(),
      arch: z.enum(ARCHES).nullable().optional(),
    }),
    permission: "host:manage",
    action: "cluster.create-join-token",
    revalidate: ["/hosts"],
  },
  (input, { actor, clientIp }) => createJoinToken(input, actor, clientIp),
);

/** A pending host becomes a placement target (same as POST /api/v1/hosts/:id/approve). */
export const approveHostAction = defineAction(
  {
    schema: z.object({ id: z.string().min(1).max(64) }),
    permission: "host:manage",
    action: "host.approve",
    targetType: "host",
    revalidate: ["/hosts"],
  },
  (input, { actor, clientIp }) => approveHost(input.id, { actor, clientIp }),
);

/** A pending host is deleted (same as POST /api/v1/hosts/:id/reject). */
export const rejectHostAction = defineAction(
  {
    schema: z.object({ id: z.string().min(1).max(64) }),
    permission: "host:manage",
    action: "host.reject",
    targetType: "host",
    revalidate: ["/hosts"],
  },
  (input, { actor, clientIp }) => rejectHost(input.id, { actor, clientIp }),
);
