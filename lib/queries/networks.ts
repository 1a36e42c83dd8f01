// Query keys/options for networks; mutations invalidate networkKeys.all (which also covers the
// VM wizard's ["networks", "wizard"] query).
import { keepPreviousData, queryOptions } from "@tanstack/react-query";
import type { ListResult } from "../schemas/list";
import type { NetworkDto } from "../schemas/networks";
import { fetchJson } from "./fetch-json";

/** A network as GET /api/v1/networks answers it (lib/schemas/networks.ts networkDtoSchema). */
export type NetworkRow = NetworkDto;

export const NETWORKS_REFRESH_MS = 5_000;

export const networkKeys = {
  all: ["networks"] as const,
  list: (params: Record<string, string>) => ["networks", "list", params] as const,
};

export function networksQuery(params: Record<string, string> = {}) {
  const qs = new URLSearchParams({ pageSize: "200", sort: "vlanId", ...params }).toString();
  return queryOptions({
    queryKey: networkKeys.list(params),
    queryFn: () => fetchJson<ListResult<NetworkRow>>(`/api/v1/networks?${qs}`),
    refetchInterval: NETWORKS_REFRESH_MS,
    placeholderData: keepPreviousData,
  });
}
