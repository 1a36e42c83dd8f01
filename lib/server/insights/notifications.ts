import "server-only";
// The failed-task bell: a failed task is unread for a user until they mark it read. One marker per
// user (NotificationState.failedSeenUpTo): failures that finished after it are unread. A user with no
// marker yet starts at their account's creation, so a new account does not inherit old failures.
import type { Actor } from "../platform";
import { db, isUniqueViolation } from "../platform";
import { taskInclude, toTaskEventDtos, type TaskEvent, type TaskWhere } from "./events";
import type { z } from "zod";
import type { notificationsDtoSchema } from "../../schemas/events";

export const NOTIFICATION_ITEMS = 20;

/** lib/schemas/events.ts notificationsDtoSchema, with Dates (toJsonSafe makes them ISO strings). */
export type Notifications = { unread: number; seenUpTo: Date; items: TaskEvent[] };

export async function seenUpTo(userId: string): Promise<Date> {
  const state = await db().notificationState.findUnique({ where: { userId }, select: { failedSeenUpTo: true } });
  if (state) return state.failedSeenUpTo;
  const user = await db().user.findUnique({ where: { id: userId }, select: { createdAt: true } });
  return user?.createdAt ?? new Date(0);
}

/** Unread failures for the actor: the count and the newest few. `scope` narrows to tasks the actor may see. */
export async function notificationsFor(actor: Pick<Actor, "id">, scope: TaskWhere = {}): Promise<Notifications> {
  const since = await seenUpTo(actor.id);
  const where: TaskWhere = { AND: [scope, { status: "failed", finishedAt: { gt: since } }] };
  const [unread, rows] = await Promise.all([
    db().task.count({ where }),
    db().task.findMany({
      where,
      orderBy: [{ finishedAt: "desc" }, { id: "desc" }],
      take: NOTIFICATION_ITEMS,
      include: taskInclude,
    }),
  ]);
  return { unread, seenUpTo: since, items: await toTaskEventDtos(rows) } satisfies z.input<
    typeof notificationsDtoSchema
  >;
}

/**
 * Marks failures up to `upTo` (default now; never later than now) as read. The client passes the
 * finish time of the newest failure it showed, so one that fails while the dropdown is open stays
 * unread. The marker only moves forward, also under concurrent calls.
 */
export async function markNotificationsRead(
  actor: Pick<Actor, "id">,
  upTo?: Date,
  scope: TaskWhere = {},
): Promise<Notifications> {
  const now = new Date();
  const target = upTo && upTo < now ? upTo : now;
  if (target > (await seenUpTo(actor.id))) {
    try {
      await db().notificationState.upsert({
        where: { userId: actor.id },
        create: { userId: actor.id, failedSeenUpTo: target },
        update: {},
      });
    } catch (error) {
      if (!isUniqueViolation(error)) throw error; // a concurrent call created the row first
    }
    await db().notificationState.updateMany({
      where: { userId: actor.id, failedSeenUpTo: { lt: target } },
      data: { failedSeenUpTo: target },
    });
  }
  return notificationsFor(actor, scope);
}
