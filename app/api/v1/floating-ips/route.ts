import { z } from "zod";
import { apiRoute } from "@/lib/server/web";
import { parseQuery, readJson, toJsonSafe } from "@/lib/server/platform";
import { createFloatingIpSchema } from "@/lib/schemas/routers";
import { createFloatingIp, listFloatingIps } from "@/lib/server/routers";

const listQuery = z.object({ projectId: z.string().trim().min(1).max(64).optional() }).strict();

// The caller's projects' floating IPs (admins: all); lib/server/routers (ADR 059).
export const GET = apiRoute({ permission: "read", action: "floatingIp.list" }, async ({ req, actor }) => {
  const items = await listFloatingIps(actor, parseQuery(req, listQuery));
  return { items, total: items.length };
});

// "vm:create" (operators, admins) lets the request in; the domain allows operators only their projects.
export const POST = apiRoute(
  { permission: "vm:create", action: "floatingIp.create", targetType: "floatingIp" },
  async ({ req, actor, clientIp }) => {
    const input = await readJson(req, createFloatingIpSchema);
    return Response.json(toJsonSafe(await createFloatingIp(input, { actor, clientIp })), { status: 201 });
  },
);
