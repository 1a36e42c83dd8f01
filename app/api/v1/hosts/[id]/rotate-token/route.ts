import { apiRoute } from "@/lib/server/web";
import { rotateHostToken } from "@/lib/server/hosts";

// New host token now; the agent gets it over its TLS API, the old one is refused from here on.
export const POST = apiRoute<{ id: string }>(
  { permission: "host:manage", action: "host.rotate-token", targetType: "host" },
  ({ params, actor, clientIp }) => rotateHostToken(params.id, { actor, clientIp }),
);
