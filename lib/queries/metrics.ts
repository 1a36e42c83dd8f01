// Query options for the CPU / memory charts of the host and VM pages (GET /api/v1/{hosts,vms}/:id/metrics).
import { queryOptions } from "@tanstack/react-query";
import type { HostMetricsDto, VmMetricsDto } from "../schemas/metrics";
import { fetchJson } from "./fetch-json";

/** Agents heartbeat every 5 s; a new sample shows within a few seconds of its arrival. */
export const METRICS_REFETCH_MS = 5_000;

export const metricsKeys = {
  host: (id: string, minutes: number) => ["hosts", "metrics", id, minutes] as const,
  vm: (id: string, minutes: number) => ["vms", "metrics", id, minutes] as const,
};

export const hostMetricsQuery = (id: string, minutes = 15) =>
  queryOptions({
    queryKey: metricsKeys.host(id, minutes),
    queryFn: () => fetchJson<HostMetricsDto>(`/api/v1/hosts/${encodeURIComponent(id)}/metrics?minutes=${minutes}`),
    refetchInterval: METRICS_REFETCH_MS,
  });

export const vmMetricsQuery = (id: string, minutes = 15) =>
  queryOptions({
    queryKey: metricsKeys.vm(id, minutes),
    queryFn: () => fetchJson<VmMetricsDto>(`/api/v1/vms/${encodeURIComponent(id)}/metrics?minutes=${minutes}`),
    refetchInterval: METRICS_REFETCH_MS,
  });
