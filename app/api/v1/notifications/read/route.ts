import { apiRoute, readJson } from "@/lib/server/http";
import { markNotificationsReadSchema } from "@/lib/schemas/events";
import { markNotificationsRead } from "@/lib/server/notifications";
import { taskScopeFor } from "@/lib/server/vm-access";

// Mark all read: the body is optional (`{"upTo": "<ISO time>"}` marks failures up to that finish time).
export const POST = apiRoute({ permission: "read", action: "notifications.read" }, async ({ req, actor }) => {
  const body = req.body === null ? {} : await readJson(req, markNotificationsReadSchema, 4096);
  return markNotificationsRead(actor, body.upTo ? new Date(body.upTo) : undefined, await taskScopeFor(actor));
});
