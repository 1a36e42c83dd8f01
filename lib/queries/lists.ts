// Query keys and options for the paginated lists; mutations invalidate by the entity's root key.
import { keepPreviousData, queryOptions } from "@tanstack/react-query";
import type { ListResult } from "../schemas/list";
import { fetchJson } from "./fetch-json";

export type ListKind = "hosts" | "images" | "vms" | "audit";
export const LIST_REFRESH_MS = 5_000;

export const listKeys = {
  all: (kind: ListKind) => [kind] as const,
  page: (kind: ListKind, params: Record<string, string>) => [kind, "list", params] as const,
};

const ENDPOINT: Record<ListKind, string> = {
  hosts: "/api/v1/hosts",
  images: "/api/v1/images",
  vms: "/api/v1/vms",
  audit: "/api/v1/audit",
};

export function listQueryOptions<T>(kind: ListKind, params: Record<string, string>) {
  const qs = new URLSearchParams(params).toString();
  return queryOptions({
    queryKey: listKeys.page(kind, params),
    queryFn: () => fetchJson<ListResult<T>>(`${ENDPOINT[kind]}${qs ? `?${qs}` : ""}`),
    refetchInterval: LIST_REFRESH_MS,
    placeholderData: keepPreviousData,
  });
}
