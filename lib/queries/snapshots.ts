// Query key/options for a VM's snapshots (GET /api/v1/vms/:id/snapshots); the snapshot and capture
// mutations in components/vm-snapshots.tsx call the JSON API and invalidate these.
import { queryOptions } from "@tanstack/react-query";
import type { SnapshotDto } from "../schemas/snapshots";
import { fetchJson } from "./fetch-json";

export const snapshotKeys = { list: (vmId: string) => ["vms", "snapshots", vmId] as const };

export const snapshotsQuery = (vmId: string) =>
  queryOptions({
    queryKey: snapshotKeys.list(vmId),
    queryFn: () => fetchJson<{ items: SnapshotDto[] }>(`/api/v1/vms/${encodeURIComponent(vmId)}/snapshots`),
    refetchInterval: 5_000,
  });

/** A write to the JSON API from the console (same origin, JSON body: passes the cross-site check). */
export function sendJson<T>(method: "POST" | "DELETE", url: string, body?: unknown): Promise<T> {
  return fetchJson<T>(url, {
    method,
    ...(body === undefined ? {} : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
  });
}
