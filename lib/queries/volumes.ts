// Query keys/options for data volumes and a VM's CD drive (issue 13), and the writes the console
// sends to the JSON API (same origin, JSON body: passes the cross-site check). The server checks
// role, project and state again; its messages are shown as they are.
import { queryOptions } from "@tanstack/react-query";
import type { HostDto, ImageDto } from "../schemas/api";
import type { VmMediaDto, VolumeDto } from "../schemas/volumes";
import { fetchJson } from "./fetch-json";
import { LIST_REFRESH_MS } from "./lists";

export const volumeKeys = {
  all: ["volumes"] as const,
  list: (filters: Record<string, string>) => ["volumes", "list", filters] as const,
  ofVm: (vmId: string) => ["volumes", "vm", vmId] as const,
  media: (vmId: string) => ["vms", "media", vmId] as const,
};

export const volumesQuery = (filters: Record<string, string> = {}) => {
  const qs = new URLSearchParams(filters).toString();
  return queryOptions({
    queryKey: volumeKeys.list(filters),
    queryFn: () => fetchJson<{ items: VolumeDto[] }>(`/api/v1/volumes${qs ? `?${qs}` : ""}`),
    refetchInterval: LIST_REFRESH_MS,
  });
};

export const vmVolumesQuery = (vmId: string) =>
  queryOptions({
    queryKey: volumeKeys.ofVm(vmId),
    queryFn: () => fetchJson<{ items: VolumeDto[] }>(`/api/v1/vms/${encodeURIComponent(vmId)}/volumes`),
    refetchInterval: LIST_REFRESH_MS,
  });

export const vmMediaQuery = (vmId: string) =>
  queryOptions({
    queryKey: volumeKeys.media(vmId),
    queryFn: () => fetchJson<VmMediaDto>(`/api/v1/vms/${encodeURIComponent(vmId)}/media`),
    refetchInterval: LIST_REFRESH_MS,
  });

/** Hosts a volume can be made on (approved ones; the list answers only those). */
export const volumeHostsQuery = queryOptions({
  queryKey: ["hosts", "volume-targets"] as const,
  queryFn: () => fetchJson<{ items: HostDto[] }>("/api/v1/hosts?pageSize=200&sort=name"),
  refetchInterval: 30_000,
});

/** Ready images of one arch (ISOs for the CD drive). */
export const readyImagesQuery = (arch: string) =>
  queryOptions({
    queryKey: ["images", "list", { arch, status: "ready", purpose: "storage" }] as const,
    queryFn: () =>
      fetchJson<{ items: ImageDto[] }>(`/api/v1/images?arch=${encodeURIComponent(arch)}&status=ready&pageSize=200`),
    refetchInterval: 30_000,
  });

/** A write to the JSON API; throws an Error with the server's message. */
export function writeJson<T>(method: "POST" | "PATCH" | "DELETE", url: string, body?: unknown): Promise<T> {
  return fetchJson<T>(url, {
    method,
    ...(body === undefined ? {} : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
  });
}
