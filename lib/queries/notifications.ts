// The failed-task bell: polled every few seconds; "mark all read" updates the cache from its answer.
import { queryOptions } from "@tanstack/react-query";
import type { NotificationsDto } from "../schemas/events";
import { fetchJson } from "./fetch-json";

export const NOTIFICATIONS_REFRESH_MS = 4_000;

export const notificationKeys = { all: ["notifications"] as const };

export const notificationsQuery = queryOptions({
  queryKey: notificationKeys.all,
  queryFn: () => fetchJson<NotificationsDto>("/api/v1/notifications"),
  refetchInterval: NOTIFICATIONS_REFRESH_MS,
});

/** Marks read up to `upTo` (the newest failure the user was shown), or everything until now. */
export function markNotificationsRead(upTo?: string | null) {
  return fetchJson<NotificationsDto>("/api/v1/notifications/read", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(upTo ? { upTo } : {}),
  });
}
