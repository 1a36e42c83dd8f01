import { apiRoute, parseQuery } from "@/lib/server/http";
import { eventListQuery } from "@/lib/schemas/entities";
import { listEvents } from "@/lib/server/events";
import { taskScopeFor } from "@/lib/server/vm-access";

// Tasks & events: every role that may read VMs may read their tasks (only of VMs it may see);
// the audit log stays admin-only.
export const GET = apiRoute({ permission: "read", action: "events.list" }, async ({ req, actor }) =>
  listEvents(parseQuery(req, eventListQuery), await taskScopeFor(actor)),
);
