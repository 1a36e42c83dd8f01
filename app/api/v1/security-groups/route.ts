import { z } from "zod";
import { apiRoute } from "@/lib/server/web";
import { parseQuery, readJson, toJsonSafe } from "@/lib/server/platform";
import { createSecurityGroupSchema } from "@/lib/schemas/security-groups";
import { createSecurityGroup, listSecurityGroups } from "@/lib/server/security-groups";

const listQuery = z.object({ projectId: z.string().trim().min(1).max(64).optional() }).strict();

// The caller's projects' groups (admins: all); lib/server/security-groups/groups.ts.
export const GET = apiRoute({ permission: "read", action: "securityGroup.list" }, ({ req, actor }) =>
  listSecurityGroups(actor, parseQuery(req, listQuery)),
);

// "vm:create" (operators, admins) lets the request in; the domain allows operators only their projects.
export const POST = apiRoute(
  { permission: "vm:create", action: "securityGroup.create", targetType: "securityGroup" },
  async ({ req, actor, clientIp }) => {
    const input = await readJson(req, createSecurityGroupSchema);
    return Response.json(toJsonSafe(await createSecurityGroup(input, { actor, clientIp })), { status: 201 });
  },
);
