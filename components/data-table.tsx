"use client";
// One list component for hosts, images, VMs and the audit log: server-side pagination, sorting,
// filters by arch/status and a name search, all kept in the URL; refreshes itself by polling.
import { useQuery } from "@tanstack/react-query";
import { usePathname, useRouter, useSearchParams } from "next/navigation";
import { useEffect, useRef, useState } from "react";
import { listQueryOptions, type ListKind } from "@/lib/queries/lists";

export type Column<T> = { key: string; label: string; sortable?: boolean; className?: string; render: (row: T) => React.ReactNode };

type Props<T> = {
  kind: ListKind;
  columns: Column<T>[];
  statuses: readonly string[];
  statusLabel?: string;
  archFilter?: boolean;
  searchLabel?: string;
  defaultSort: string;
  defaultDir?: "asc" | "desc";
  empty: React.ReactNode;
  rowKey: (row: T) => string;
};

const PARAM_KEYS = ["page", "pageSize", "sort", "dir", "arch", "status", "q"] as const;

export function DataTable<T>({ kind, columns, statuses, statusLabel = "Status", archFilter = true, searchLabel = "Search by name", defaultSort, defaultDir = "asc", empty, rowKey }: Props<T>) {
  const router = useRouter();
  const pathname = usePathname();
  const searchParams = useSearchParams();
  const params: Record<string, string> = {};
  for (const k of PARAM_KEYS) {
    const v = searchParams.get(k);
    if (v) params[k] = v;
  }
  const sort = params.sort ?? defaultSort;
  const dir = (params.dir ?? defaultDir) as "asc" | "desc";
  const page = Number(params.page ?? "1") || 1;
  const pageSize = Number(params.pageSize ?? "25") || 25;
  const query = useQuery(listQueryOptions<T>(kind, { ...params, sort, dir, page: String(page), pageSize: String(pageSize) }));

  const [search, setSearch] = useState(params.q ?? "");
  // Two quick changes (e.g. clearing two filters) must build on each other, not on the URL the
  // page rendered with: router.replace lands asynchronously.
  const latest = useRef(searchParams.toString());
  useEffect(() => {
    latest.current = searchParams.toString();
  }, [searchParams]);
  function update(next: Record<string, string | undefined>) {
    const sp = new URLSearchParams(latest.current);
    for (const [k, v] of Object.entries(next)) {
      if (v === undefined || v === "") sp.delete(k);
      else sp.set(k, v);
    }
    if (!("page" in next)) sp.delete("page");
    latest.current = sp.toString();
    router.replace(`${pathname}${sp.size ? `?${sp}` : ""}`, { scroll: false });
  }
  // Debounce the search box so typing does not fire a request per key.
  useEffect(() => {
    if ((params.q ?? "") === search) return;
    const t = setTimeout(() => update({ q: search || undefined }), 300);
    return () => clearTimeout(t);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [search]);

  const total = query.data?.total ?? 0;
  const items = query.data?.items ?? [];
  const first = total === 0 ? 0 : (page - 1) * pageSize + 1;
  const last = Math.min(total, page * pageSize);
  const pages = Math.max(1, Math.ceil(total / pageSize));
  const filtered = Boolean(params.arch || params.status || params.q);

  return (
    <div className="space-y-3">
      <div className="flex flex-wrap items-end gap-3" role="search">
        <label className="text-sm">
          <span className="block text-xs font-medium text-slate-600">{searchLabel}</span>
          <input type="search" value={search} onChange={(e) => setSearch(e.target.value)} maxLength={100} className="mt-1 w-56 rounded-md border border-slate-300 bg-white px-2 py-1.5" placeholder="name…" />
        </label>
        {archFilter && (
          <label className="text-sm">
            <span className="block text-xs font-medium text-slate-600">Architecture</span>
            <select value={params.arch ?? ""} onChange={(e) => update({ arch: e.target.value || undefined })} className="mt-1 rounded-md border border-slate-300 bg-white px-2 py-1.5" name="arch">
              <option value="">All</option>
              <option value="x86_64">x86_64</option>
              <option value="aarch64">aarch64</option>
            </select>
          </label>
        )}
        <label className="text-sm">
          <span className="block text-xs font-medium text-slate-600">{statusLabel}</span>
          <select value={params.status ?? ""} onChange={(e) => update({ status: e.target.value || undefined })} className="mt-1 rounded-md border border-slate-300 bg-white px-2 py-1.5" name="status">
            <option value="">All</option>
            {statuses.map((s) => <option key={s} value={s}>{s}</option>)}
          </select>
        </label>
        {query.isFetching && <span className="pb-2 text-xs text-slate-400" aria-live="polite">refreshing…</span>}
      </div>

      {query.isError && (
        <p role="alert" className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">{query.error.message}</p>
      )}

      <div className="overflow-x-auto rounded-lg border border-slate-200 bg-white">
        <table className="min-w-full divide-y divide-slate-200 text-sm">
          <thead className="bg-slate-50">
            <tr>
              {columns.map((c) => {
                const active = sort === c.key;
                return (
                  <th key={c.key} scope="col" aria-sort={active ? (dir === "asc" ? "ascending" : "descending") : undefined} className={`px-3 py-2 text-left text-xs font-semibold uppercase tracking-wide text-slate-600 ${c.className ?? ""}`}>
                    {c.sortable ? (
                      <button type="button" className="inline-flex items-center gap-1 uppercase hover:text-slate-900" onClick={() => update({ sort: c.key, dir: active && dir === "asc" ? "desc" : "asc" })}>
                        {c.label}
                        <span aria-hidden="true">{active ? (dir === "asc" ? "▲" : "▼") : "↕"}</span>
                      </button>
                    ) : (
                      c.label
                    )}
                  </th>
                );
              })}
            </tr>
          </thead>
          <tbody className="divide-y divide-slate-100">
            {items.map((row) => (
              <tr key={rowKey(row)} className="hover:bg-slate-50" data-testid="row">
                {columns.map((c) => <td key={c.key} className={`px-3 py-2 align-middle ${c.className ?? ""}`}>{c.render(row)}</td>)}
              </tr>
            ))}
          </tbody>
        </table>
        {query.isSuccess && items.length === 0 && (
          <div className="px-6 py-10 text-center text-sm text-slate-600" data-testid="empty-state">
            {filtered ? <p>Nothing matches these filters. <button type="button" className="text-indigo-700 underline" onClick={() => { setSearch(""); update({ arch: undefined, status: undefined, q: undefined }); }}>Clear filters</button></p> : empty}
          </div>
        )}
        {query.isPending && <p className="px-6 py-10 text-center text-sm text-slate-500">Loading…</p>}
      </div>

      <div className="flex items-center justify-between text-sm text-slate-600">
        <span data-testid="range">{total === 0 ? "No rows" : `Showing ${first}–${last} of ${total}`}</span>
        <div className="flex items-center gap-2">
          <button type="button" disabled={page <= 1} onClick={() => update({ page: String(page - 1) })} className="rounded-md border border-slate-300 bg-white px-3 py-1 disabled:opacity-40">Previous</button>
          <span>Page {page} of {pages}</span>
          <button type="button" disabled={page >= pages} onClick={() => update({ page: String(page + 1) })} className="rounded-md border border-slate-300 bg-white px-3 py-1 disabled:opacity-40">Next</button>
        </div>
      </div>
    </div>
  );
}
