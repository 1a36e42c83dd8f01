"use server";
import { z } from "zod";
import { defineAction } from "@/lib/server/web";
import { createJoinToken, rotateJoinToken } from "@/lib/server/hosts";

export const rotateJoinTokenAction = defineAction(
  { schema: z.object({}), permission: "host:manage", action: "cluster.rotate-join-token", revalidate: ["/hosts"] },
  (_input, { actor, clientIp }) => rotateJoinToken(actor, clientIp),
);

/** An expiring (POLYARCH_JOIN_TOKEN_TTL_HOURS, default 24 h), by default single-use join token; shown once. */
export const createJoinTokenAction = defineAction(
  {
    schema: z.object({
      singleUse: z.boolean().default(true),
      ttlHours: z
        .number()
        .min(0.1)
        .max(24 * 365)
        .optional(),
    }),
    permission: "host:manage",
    action: "cluster.create-join-token",
    revalidate: ["/hosts"],
  },
  (input, { actor, clientIp }) => createJoinToken(input, actor, clientIp),
);
