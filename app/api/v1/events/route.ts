import { apiRoute } from "@/lib/server/web";
import { parseQuery } from "@/lib/server/platform";
import { eventListQuery } from "@/lib/schemas/entities";
import { listEvents } from "@/lib/server/insights";
import { taskScopeFor } from "@/lib/server/vms";

// Tasks & events: every role that may read VMs may read their tasks (only of VMs it may see);
// the audit log stays admin-only.
export const GET = apiRoute({ permission: "read", action: "events.list" }, async ({ req, actor }) =>
  listEvents(parseQuery(req, eventListQuery), await taskScopeFor(actor)),
);
