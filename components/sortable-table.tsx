"use client";
// The pieces the server-paginated lists (DataTable, EventsTable) share: list state kept in the URL,
// the sortable table with its empty and loading states, and the pager under it.
import { usePathname, useRouter, useSearchParams } from "next/navigation";
import { useTranslations } from "next-intl";
import { useEffect, useRef } from "react";

export type SortDir = "asc" | "desc";
export type Column<T> = {
  key: string;
  label: string;
  sortable?: boolean;
  className?: string;
  render: (row: T) => React.ReactNode;
};
export type UpdateParams = (next: Record<string, string | undefined>) => void;

/**
 * Reads `keys` from the URL and returns them with the effective sort, direction, page and page size,
 * plus `update`, which writes changes back with router.replace (empty values are removed, and any
 * change that does not set `page` goes back to the first page).
 */
export function useListParams(keys: readonly string[], defaults: { sort: string; dir: SortDir }) {
  const router = useRouter();
  const pathname = usePathname();
  const searchParams = useSearchParams();
  const params: Record<string, string> = {};
  for (const k of keys) {
    const v = searchParams.get(k);
    if (v) params[k] = v;
  }
  const sort = params.sort ?? defaults.sort;
  const dir = (params.dir ?? defaults.dir) as SortDir;
  const page = Number(params.page ?? "1") || 1;
  const pageSize = Number(params.pageSize ?? "25") || 25;

  // Two quick changes (e.g. clearing two filters) must build on each other, not on the URL the
  // page rendered with: router.replace lands asynchronously, and a render in between (a poll, the
  // first replace landing) can still carry an older URL. So while a replace of ours is in flight,
  // only the URL we asked for counts; other URLs (back button, links) are taken once none is pending.
  const latest = useRef(searchParams.toString());
  const pending = useRef<{ query: string; at: number } | null>(null);
  useEffect(() => {
    const now = searchParams.toString();
    const inFlight = pending.current;
    if (inFlight && now !== inFlight.query && Date.now() - inFlight.at < 5_000) return;
    pending.current = null;
    latest.current = now;
  }, [searchParams]);
  const update: UpdateParams = (next) => {
    const sp = new URLSearchParams(latest.current);
    for (const [k, v] of Object.entries(next)) {
      if (v === undefined || v === "") sp.delete(k);
      else sp.set(k, v);
    }
    if (!("page" in next)) sp.delete("page");
    latest.current = sp.toString();
    pending.current = { query: latest.current, at: Date.now() };
    router.replace(`${pathname}${sp.size ? `?${sp}` : ""}`, { scroll: false });
  };
  return { params, sort, dir, page, pageSize, update };
}

type TableProps<T> = {
  columns: Column<T>[];
  items: T[];
  sort: string;
  dir: SortDir;
  /** The direction a column sorts in on its first click. */
  firstDir?: SortDir;
  update: UpdateParams;
  rowKey: (row: T) => string;
  rowTestId?: string;
  /** Extra attributes for a row's <tr>, e.g. `data-status`. */
  rowAttributes?: (row: T) => Record<string, string>;
  /** The query has answered (shows `empty` when it answered with no rows). */
  loaded: boolean;
  /** The query has not answered yet. */
  loading: boolean;
  empty: React.ReactNode;
};

export function SortableTable<T>({
  columns,
  items,
  sort,
  dir,
  firstDir = "asc",
  update,
  rowKey,
  rowTestId = "row",
  rowAttributes,
  loaded,
  loading,
  empty,
}: TableProps<T>) {
  const otherDir: SortDir = firstDir === "asc" ? "desc" : "asc";
  const t = useTranslations("common");
  return (
    <div className="relative overflow-x-auto rounded-lg border border-slate-200 bg-white">
      <table className="min-w-full divide-y divide-slate-200 text-sm">
        <thead className="bg-slate-50">
          <tr>
            {columns.map((c) => {
              const active = sort === c.key;
              return (
                <th
                  key={c.key}
                  scope="col"
                  aria-sort={active ? (dir === "asc" ? "ascending" : "descending") : undefined}
                  className={`px-3 py-2 text-left text-xs font-semibold uppercase tracking-wide text-slate-600 ${c.className ?? ""}`}
                >
                  {c.sortable ? (
                    <button
                      type="button"
                      className="inline-flex items-center gap-1 uppercase hover:text-slate-900"
                      onClick={() => update({ sort: c.key, dir: active && dir === firstDir ? otherDir : firstDir })}
                    >
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
            <tr key={rowKey(row)} className="hover:bg-slate-50" data-testid={rowTestId} {...rowAttributes?.(row)}>
              {columns.map((c) => (
                <td key={c.key} className={`px-3 py-2 align-middle ${c.className ?? ""}`}>
                  {c.render(row)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      {loaded && items.length === 0 && (
        <div className="px-6 py-10 text-center text-sm text-slate-600" data-testid="empty-state">
          {empty}
        </div>
      )}
      {loading && <p className="px-6 py-10 text-center text-sm text-slate-500">{t("loading")}</p>}
    </div>
  );
}

/** "Showing a–b of n" and Previous / Next under a list. */
export function Pager({
  total,
  page,
  pageSize,
  update,
}: {
  total: number;
  page: number;
  pageSize: number;
  update: UpdateParams;
}) {
  const first = total === 0 ? 0 : (page - 1) * pageSize + 1;
  const last = Math.min(total, page * pageSize);
  const pages = Math.max(1, Math.ceil(total / pageSize));
  const t = useTranslations("common");
  return (
    <div className="flex items-center justify-between text-sm text-slate-600">
      <span data-testid="range">{total === 0 ? t("noRows") : t("showing", { first, last, total })}</span>
      <div className="flex items-center gap-2">
        <button
          type="button"
          disabled={page <= 1}
          onClick={() => update({ page: String(page - 1) })}
          className="rounded-md border border-slate-300 bg-white px-3 py-1 disabled:opacity-40"
        >
          {t("previous")}
        </button>
        <span>{t("pageOf", { page, pages })}</span>
        <button
          type="button"
          disabled={page >= pages}
          onClick={() => update({ page: String(page + 1) })}
          className="rounded-md border border-slate-300 bg-white px-3 py-1 disabled:opacity-40"
        >
          {t("next")}
        </button>
      </div>
    </div>
  );
}
