import { apiRoute } from "@/lib/server/web";
import { notificationsFor } from "@/lib/server/insights";
import { taskScopeFor } from "@/lib/server/vms";

// The signed-in user's unread failed-task notifications (count and the newest few), of VMs they may see.
export const GET = apiRoute({ permission: "read", action: "notifications.list" }, async ({ actor }) =>
  notificationsFor(actor, await taskScopeFor(actor)),
);
