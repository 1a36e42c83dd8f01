import { apiRoute } from "@/lib/server/http";
import { notificationsFor } from "@/lib/server/notifications";
import { taskScopeFor } from "@/lib/server/vm-access";

// The signed-in user's unread failed-task notifications (count and the newest few), of VMs they may see.
export const GET = apiRoute({ permission: "read", action: "notifications.list" }, async ({ actor }) => notificationsFor(actor, await taskScopeFor(actor)));
