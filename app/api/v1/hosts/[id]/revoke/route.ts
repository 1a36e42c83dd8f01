import { apiRoute } from "@/lib/server/web";
import { revokeHost } from "@/lib/server/hosts";

// Token + certificate refused from now on; the node re-joins only with a join token created afterwards.
export const POST = apiRoute<{ id: string }>(
  { permission: "host:manage", action: "host.revoke", targetType: "host" },
  ({ params, actor, clientIp }) => revokeHost(params.id, { actor, clientIp }),
);
