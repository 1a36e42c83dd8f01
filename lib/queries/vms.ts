// Query keys/options for one VM, its tasks and its events; the lifecycle mutations (server
// actions, app/(console)/vms/actions.ts) invalidate these and the lists. Types come from the
// response schemas (lib/schemas), the same the API documents.
import { queryOptions } from "@tanstack/react-query";
import type { VmDto } from "../schemas/api";
import type { VmEventDto, VmTaskDto } from "../schemas/vms";
import { fetchJson } from "./fetch-json";

export const vmKeys = {
  detail: (id: string) => ["vms", "detail", id] as const,
  tasks: (id: string) => ["vms", "tasks", id] as const,
  events: (id: string) => ["vms", "events", id] as const,
};

export const vmQuery = (id: string) =>
  queryOptions({
    queryKey: vmKeys.detail(id),
    queryFn: () => fetchJson<VmDto>(`/api/v1/vms/${encodeURIComponent(id)}`),
    refetchInterval: 3_000,
  });

export const vmTasksQuery = (id: string) =>
  queryOptions({
    queryKey: vmKeys.tasks(id),
    queryFn: () => fetchJson<{ items: VmTaskDto[] }>(`/api/v1/vms/${encodeURIComponent(id)}/tasks`),
    refetchInterval: 2_000,
  });

export const vmEventsQuery = (id: string) =>
  queryOptions({
    queryKey: vmKeys.events(id),
    queryFn: () => fetchJson<{ items: VmEventDto[] }>(`/api/v1/vms/${encodeURIComponent(id)}/events`),
    refetchInterval: 5_000,
  });
