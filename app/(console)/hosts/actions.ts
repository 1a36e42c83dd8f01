"use server";
import { z } from "zod";
import { defineAction } from "@/lib/server/action";
import { rotateJoinToken } from "@/lib/server/fleet";

export const rotateJoinTokenAction = defineAction(
  { schema: z.object({}), permission: "host:manage", action: "cluster.rotate-join-token", revalidate: ["/hosts"] },
  (_input, { actor, clientIp }) => rotateJoinToken(actor, clientIp),
);
