import { apiRoute } from "@/lib/server/web";
import { rejectHost } from "@/lib/server/hosts";

// A pending host (ADR 025) is deleted instead of approved; admin only.
export const POST = apiRoute<{ id: string }>(
  { permission: "host:manage", action: "host.reject", targetType: "host" },
  ({ params, actor, clientIp }) => rejectHost(params.id, { actor, clientIp }),
);
