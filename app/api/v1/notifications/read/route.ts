import { apiRoute } from "@/lib/server/web";
import { readJson } from "@/lib/server/platform";
import { markNotificationsReadSchema } from "@/lib/schemas/events";
import { markNotificationsRead } from "@/lib/server/insights";
import { taskScopeFor } from "@/lib/server/vms";

// Mark all read: the body is optional (`{"upTo": "<ISO time>"}` marks failures up to that finish time).
export const POST = apiRoute({ permission: "read", action: "notifications.read" }, async ({ req, actor }) => {
  const body = req.body === null ? {} : await readJson(req, markNotificationsReadSchema, 4096);
  return markNotificationsRead(actor, body.upTo ? new Date(body.upTo) : undefined, await taskScopeFor(actor));
});
