import { apiRoute } from "@/lib/server/web";
import { approveHost } from "@/lib/server/hosts";

// A pending host (ADR 025) becomes a placement target; admin only.
export const POST = apiRoute<{ id: string }>(
  { permission: "host:manage", action: "host.approve", targetType: "host" },
  ({ params, actor, clientIp }) => approveHost(params.id, { actor, clientIp }),
);
