import { apiRoute } from "@/lib/server/web";
import { readJson } from "@/lib/server/platform";
import { getHost, updateHost } from "@/lib/server/hosts";
import { updateHostSchema } from "@/lib/schemas/hosts";

export const GET = apiRoute<{ id: string }>(
  { permission: "read", action: "host.get", targetType: "host" },
  ({ params }) => getHost(params.id),
);

export const PATCH = apiRoute<{ id: string }>(
  { permission: "host:manage", action: "host.update", targetType: "host" },
  async ({ req, params, actor, clientIp }) =>
    updateHost(params.id, await readJson(req, updateHostSchema), { actor, clientIp }),
);
