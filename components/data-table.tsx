"use client";
// One list component for hosts, images, VMs and the audit log: server-side pagination, sorting,
// filters by arch/status and a name search, all kept in the URL; refreshes itself by polling.
import { useQuery } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { listQueryOptions, type ListKind } from "@/lib/queries/lists";
import { useTranslations } from "next-intl";
import { Pager, SortableTable, useListParams, type Column } from "@/components/sortable-table";
import { useStatusLabel } from "@/components/badges";

export type { Column };

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

export function DataTable<T>({
  kind,
  columns,
  statuses,
  statusLabel,
  archFilter = true,
  searchLabel,
  defaultSort,
  defaultDir = "asc",
  empty,
  rowKey,
}: Props<T>) {
  const t = useTranslations("common");
  const statusName = useStatusLabel();
  const { params, sort, dir, page, pageSize, update } = useListParams(PARAM_KEYS, {
    sort: defaultSort,
    dir: defaultDir,
  });
  const query = useQuery(
    listQueryOptions<T>(kind, { ...params, sort, dir, page: String(page), pageSize: String(pageSize) }),
  );

  const [search, setSearch] = useState(params.q ?? "");
  // Debounce the search box so typing does not fire a request per key.
  useEffect(() => {
    if ((params.q ?? "") === search) return;
    const t = setTimeout(() => update({ q: search || undefined }), 300);
    return () => clearTimeout(t);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [search]);

  const total = query.data?.total ?? 0;
  const items = query.data?.items ?? [];
  const filtered = Boolean(params.arch || params.status || params.q);

  return (
    <div className="space-y-3">
      <div className="flex flex-wrap items-end gap-3" role="search">
        <label className="text-sm">
          <span className="block text-xs font-medium text-slate-600">{searchLabel ?? t("searchByName")}</span>
          <input
            type="search"
            value={search}
            onChange={(e) => setSearch(e.target.value)}
            maxLength={100}
            className="mt-1 w-56 rounded-md border border-slate-300 bg-white px-2 py-1.5"
            placeholder={t("namePlaceholder")}
          />
        </label>
        {archFilter && (
          <label className="text-sm">
            <span className="block text-xs font-medium text-slate-600">{t("architecture")}</span>
            <select
              value={params.arch ?? ""}
              onChange={(e) => update({ arch: e.target.value || undefined })}
              className="mt-1 rounded-md border border-slate-300 bg-white px-2 py-1.5"
              name="arch"
            >
              <option value="">{t("all")}</option>
              <option value="x86_64">x86_64</option>
              <option value="aarch64">aarch64</option>
            </select>
          </label>
        )}
        <label className="text-sm">
          <span className="block text-xs font-medium text-slate-600">{statusLabel ?? t("status")}</span>
          <select
            value={params.status ?? ""}
            onChange={(e) => update({ status: e.target.value || undefined })}
            className="mt-1 rounded-md border border-slate-300 bg-white px-2 py-1.5"
            name="status"
          >
            <option value="">{t("all")}</option>
            {statuses.map((s) => (
              <option key={s} value={s}>
                {statusName(s)}
              </option>
            ))}
          </select>
        </label>
        {query.isFetching && (
          <span className="pb-2 text-xs text-slate-500" aria-live="polite">
            {t("refreshing")}
          </span>
        )}
      </div>

      {query.isError && (
        <p role="alert" className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">
          {query.error.message}
        </p>
      )}

      <SortableTable
        columns={columns}
        items={items}
        sort={sort}
        dir={dir}
        update={update}
        rowKey={rowKey}
        loaded={query.isSuccess}
        loading={query.isPending}
        empty={
          filtered ? (
            <p>
              {t("noMatch")}{" "}
              <button
                type="button"
                className="text-indigo-700 underline"
                onClick={() => {
                  setSearch("");
                  update({ arch: undefined, status: undefined, q: undefined });
                }}
              >
                {t("clearFilters")}
              </button>
            </p>
          ) : (
            empty
          )
        }
      />

      <Pager total={total} page={page} pageSize={pageSize} update={update} />
    </div>
  );
}
