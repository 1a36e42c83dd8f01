// The dashboard's live summary: polled so counts, capacity and task activity refresh by themselves.
import { queryOptions } from "@tanstack/react-query";
import type { SummaryDto } from "../schemas/events";
import { fetchJson } from "./fetch-json";

export const DASHBOARD_REFRESH_MS = 5_000;

export const dashboardQuery = queryOptions({
  queryKey: ["summary"],
  queryFn: () => fetchJson<SummaryDto>("/api/v1/summary"),
  refetchInterval: DASHBOARD_REFRESH_MS,
});
