// Query keys/options for VMs that move (issue 14): a VM's migration preview and a host's own tasks
// (the evacuation). The writes (migrate, cancel, HA, maintenance) go to the JSON API with writeJson
// and invalidate these and the VM's keys (./vms.ts).
import { queryOptions } from "@tanstack/react-query";
import type { MigrationPreview } from "../schemas/migration";
import type { VmTaskDto } from "../schemas/vms";
import { fetchJson } from "./fetch-json";

export const mobilityKeys = {
  preview: (vmId: string) => ["vms", "migration-preview", vmId] as const,
  hostTasks: (hostId: string) => ["hosts", "tasks", hostId] as const,
};

export const migrationPreviewQuery = (vmId: string) =>
  queryOptions({
    queryKey: mobilityKeys.preview(vmId),
    queryFn: () => fetchJson<MigrationPreview>(`/api/v1/vms/${encodeURIComponent(vmId)}/migration-preview`),
    refetchInterval: 5_000,
  });

/** host:manage only (the steps name VMs of every project); polled fast while an evacuation runs. */
export const hostTasksQuery = (hostId: string) =>
  queryOptions({
    queryKey: mobilityKeys.hostTasks(hostId),
    queryFn: () => fetchJson<{ items: VmTaskDto[] }>(`/api/v1/hosts/${encodeURIComponent(hostId)}/tasks`),
    refetchInterval: (q) =>
      q.state.data?.items.some((t) => t.status === "running" || t.status === "pending") ? 2_000 : 5_000,
  });
