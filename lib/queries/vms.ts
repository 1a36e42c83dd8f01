// Query keys/options for one VM and its tasks; lifecycle mutations invalidate these and the lists.
import { queryOptions } from "@tanstack/react-query";
import { fetchJson } from "./fetch-json";

export type VmDetail = {
  id: string; name: string; arch: "x86_64" | "aarch64"; vcpus: number; memoryMb: number; diskGb: number; status: string; powerState: string;
  desiredState: string; emulated: boolean; allowEmulation: boolean; lastError: string | null; host: { id: string; name: string; arch: string } | null;
  image: { id: string; name: string } | null; createdAt: string; updatedAt: string;
  /** null: the default project (a VM from before projects) */
  project?: { id: string; name: string } | null;
  /** graphical display: "none" = serial console only (ADR 013) */
  display?: "none" | "vga" | "virtio-gpu" | "ramfb";
};
export type TaskStepDto = { id: string; position: number; name: string; status: string; message: string | null; startedAt: string | null; finishedAt: string | null };
export type TaskDto = { id: string; kind: string; status: string; error: string | null; createdAt: string; finishedAt: string | null; steps: TaskStepDto[] };

export const vmKeys = {
  detail: (id: string) => ["vms", "detail", id] as const,
  tasks: (id: string) => ["vms", "tasks", id] as const,
};

export const vmQuery = (id: string) =>
  queryOptions({ queryKey: vmKeys.detail(id), queryFn: () => fetchJson<VmDetail>(`/api/v1/vms/${encodeURIComponent(id)}`), refetchInterval: 3_000 });

export const vmTasksQuery = (id: string) =>
  queryOptions({ queryKey: vmKeys.tasks(id), queryFn: () => fetchJson<{ items: TaskDto[] }>(`/api/v1/vms/${encodeURIComponent(id)}/tasks`), refetchInterval: 2_000 });

export type VmEventDto = { id: string; createdAt: string; userEmail: string | null; action: string; result: string; details: string | null };
export const vmEventsQuery = (id: string) =>
  queryOptions({ queryKey: ["vms", "events", id] as const, queryFn: () => fetchJson<{ items: VmEventDto[] }>(`/api/v1/vms/${encodeURIComponent(id)}/events`), refetchInterval: 5_000 });

export async function postVmAction(id: string, action: string) {
  return fetchJson(`/api/v1/vms/${encodeURIComponent(id)}/actions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ action }) });
}

export async function deleteVmRequest(id: string) {
  return fetchJson(`/api/v1/vms/${encodeURIComponent(id)}`, { method: "DELETE" });
}
