// Query keys/options for the "Tasks & events" list (server-side paginated, polled).
import { keepPreviousData, queryOptions } from "@tanstack/react-query";
import type { TaskEventDto } from "../schemas/events";
import type { ListResult } from "../schemas/list";
import { fetchJson } from "./fetch-json";

export const EVENTS_REFRESH_MS = 5_000;
/** The URL parameters the events page keeps and sends to GET /api/v1/events. */
export const EVENT_PARAM_KEYS = [
  "page",
  "pageSize",
  "sort",
  "dir",
  "status",
  "vm",
  "vmId",
  "host",
  "hostId",
  "user",
  "userId",
  "from",
  "to",
  "q",
] as const;

export const eventKeys = {
  all: ["events"] as const,
  page: (params: Record<string, string>) => ["events", "list", params] as const,
};

export function eventsQuery(params: Record<string, string>) {
  const qs = new URLSearchParams(params).toString();
  return queryOptions({
    queryKey: eventKeys.page(params),
    queryFn: () => fetchJson<ListResult<TaskEventDto>>(`/api/v1/events${qs ? `?${qs}` : ""}`),
    refetchInterval: EVENTS_REFRESH_MS,
    placeholderData: keepPreviousData,
  });
}
