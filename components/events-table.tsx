"use client";
// "Tasks & events": every task (VM create / start / stop / reboot / force off / delete / retry) with
// who started it, the VM, the host and how it ended. Filters by result, VM, host, user and time
// range; server-side pagination and sorting; all state in the URL; polls like the other lists.
import Link from "next/link";
import { useQuery } from "@tanstack/react-query";
import { useTranslations } from "next-intl";
import { useEffect, useState } from "react";
import { EVENT_PARAM_KEYS, eventsQuery } from "@/lib/queries/events";
import { TASK_RESULTS } from "@/lib/schemas/statuses";
import type { TaskEventDto } from "@/lib/schemas/events";
import { ArchBadge, StatusBadge, useStatusLabel } from "@/components/badges";
import { useDisplayFormat, type DisplayFormat } from "@/components/use-display-format";
import { Pager, SortableTable, useListParams, type Column } from "@/components/sortable-table";

// Labels and placeholders are message keys (events.filters.<key>.label / .placeholder).
const TEXT_FILTERS = [{ key: "vm" }, { key: "host" }, { key: "user" }, { key: "q" }] as const;
type TextKey = (typeof TEXT_FILTERS)[number]["key"];

/** ISO instant ↔ the browser's local `datetime-local` value. */
function toLocalInput(iso: string | undefined): string {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}
function fromLocalInput(value: string): string | undefined {
  if (!value) return undefined;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

function duration(t: TaskEventDto): string {
  if (!t.startedAt || !t.finishedAt) return "—";
  const ms = new Date(t.finishedAt).getTime() - new Date(t.startedAt).getTime();
  return ms < 1000 ? `${ms} ms` : ms < 60_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 60_000)} min`;
}

type Msg = ReturnType<typeof useTranslations>;

const columns = (msg: Msg, fmt: DisplayFormat): Column<TaskEventDto>[] => [
  {
    key: "createdAt",
    label: msg("started"),
    sortable: true,
    className: "whitespace-nowrap",
    render: (t) => fmt.when(t.createdAt),
  },
  { key: "kind", label: msg("task"), sortable: true, render: (t) => <code className="text-xs">{t.kind}</code> },
  { key: "status", label: msg("result"), sortable: true, render: (t) => <StatusBadge status={t.status} /> },
  {
    key: "vm",
    label: msg("vm"),
    render: (t) =>
      t.vm ? (
        <span className="inline-flex items-center gap-1">
          <Link href={`/vms/${t.vm.id}`} className="font-medium text-indigo-700 hover:underline">
            {t.vm.name}
          </Link>{" "}
          <ArchBadge arch={t.vm.arch} />
        </span>
      ) : (
        <span className="text-slate-500">{msg("deleted")}</span>
      ),
  },
  {
    key: "host",
    label: msg("host"),
    render: (t) =>
      t.host ? (
        <Link href={`/hosts/${t.host.id}`} className="hover:underline">
          {t.host.name}
        </Link>
      ) : (
        "—"
      ),
  },
  { key: "user", label: msg("user"), render: (t) => t.user?.email ?? "—" },
  {
    key: "finishedAt",
    label: msg("finished"),
    sortable: true,
    className: "whitespace-nowrap",
    render: (t) => (t.finishedAt ? `${fmt.when(t.finishedAt)} (${duration(t)})` : "—"),
  },
  {
    key: "error",
    label: msg("error"),
    render: (t) => (
      <span className="block max-w-xs truncate text-xs text-red-700" title={t.error ?? undefined} translate="no">
        {t.error ?? ""}
      </span>
    ),
  },
];

export function EventsTable() {
  const msg = useTranslations("events");
  const fmt = useDisplayFormat();
  const common = useTranslations("common");
  const statusName = useStatusLabel();
  const { params, sort, dir, page, pageSize, update } = useListParams(EVENT_PARAM_KEYS, {
    sort: "createdAt",
    dir: "desc",
  });
  const query = useQuery(eventsQuery({ ...params, sort, dir, page: String(page), pageSize: String(pageSize) }));

  // Text filters are debounced so typing does not fire a request per key.
  const [text, setText] = useState<Record<TextKey, string>>({
    vm: params.vm ?? "",
    host: params.host ?? "",
    user: params.user ?? "",
    q: params.q ?? "",
  });
  useEffect(() => {
    const changed = TEXT_FILTERS.filter(({ key }) => (params[key] ?? "") !== text[key]);
    if (changed.length === 0) return;
    const t = setTimeout(
      () => update(Object.fromEntries(changed.map(({ key }) => [key, text[key] || undefined]))),
      300,
    );
    return () => clearTimeout(t);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [text]);

  const total = query.data?.total ?? 0;
  const items = query.data?.items ?? [];
  const filtered = EVENT_PARAM_KEYS.some((k) => !["page", "pageSize", "sort", "dir"].includes(k) && params[k]);

  function clearFilters() {
    setText({ vm: "", host: "", user: "", q: "" });
    update(
      Object.fromEntries(
        EVENT_PARAM_KEYS.filter((k) => !["pageSize", "sort", "dir"].includes(k)).map((k) => [k, undefined]),
      ),
    );
  }

  return (
    <div className="space-y-3">
      <div className="flex flex-wrap items-end gap-3" role="search" aria-label={msg("filterTasks")}>
        <label className="text-sm">
          <span className="block text-xs font-medium text-slate-600">{msg("result")}</span>
          <select
            name="status"
            value={params.status ?? ""}
            onChange={(e) => update({ status: e.target.value || undefined })}
            className="mt-1 rounded-md border border-slate-300 bg-white px-2 py-1.5"
          >
            <option value="">{common("all")}</option>
            {TASK_RESULTS.map((s) => (
              <option key={s} value={s}>
                {statusName(s)}
              </option>
            ))}
          </select>
        </label>
        {TEXT_FILTERS.map(({ key }) => (
          <label key={key} className="text-sm">
            <span className="block text-xs font-medium text-slate-600">{msg(`filters.${key}.label`)}</span>
            <input
              type="search"
              name={key}
              value={text[key]}
              maxLength={100}
              placeholder={msg(`filters.${key}.placeholder`)}
              onChange={(e) => setText((t) => ({ ...t, [key]: e.target.value }))}
              className="mt-1 w-40 rounded-md border border-slate-300 bg-white px-2 py-1.5"
            />
          </label>
        ))}
        <label className="text-sm">
          <span className="block text-xs font-medium text-slate-600">{msg("from")}</span>
          <input
            type="datetime-local"
            name="from"
            value={toLocalInput(params.from)}
            onChange={(e) => update({ from: fromLocalInput(e.target.value) })}
            className="mt-1 rounded-md border border-slate-300 bg-white px-2 py-1.5"
          />
        </label>
        <label className="text-sm">
          <span className="block text-xs font-medium text-slate-600">{msg("to")}</span>
          <input
            type="datetime-local"
            name="to"
            value={toLocalInput(params.to)}
            onChange={(e) => update({ to: fromLocalInput(e.target.value) })}
            className="mt-1 rounded-md border border-slate-300 bg-white px-2 py-1.5"
          />
        </label>
        {(params.vmId || params.hostId || params.userId) && (
          <span className="pb-2 text-xs text-slate-600">
            {msg(params.vmId ? "onlyVm" : params.hostId ? "onlyHost" : "onlyUser")}{" "}
            <button
              type="button"
              className="text-indigo-700 underline"
              onClick={() => update({ vmId: undefined, hostId: undefined, userId: undefined })}
            >
              {msg("showAll")}
            </button>
          </span>
        )}
        {query.isFetching && (
          <span className="pb-2 text-xs text-slate-500" aria-live="polite">
            {common("refreshing")}
          </span>
        )}
      </div>

      {query.isError && (
        <p role="alert" className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">
          {query.error.message}
        </p>
      )}

      <SortableTable
        columns={columns(msg, fmt)}
        items={items}
        sort={sort}
        dir={dir}
        firstDir="desc"
        update={update}
        rowKey={(t) => t.id}
        rowTestId="event-row"
        rowAttributes={(t) => ({ "data-status": t.status })}
        loaded={query.isSuccess}
        loading={query.isPending}
        empty={
          filtered ? (
            <p>
              {msg("noMatch")}{" "}
              <button type="button" className="text-indigo-700 underline" onClick={clearFilters}>
                {common("clearFilters")}
              </button>
            </p>
          ) : (
            <p>{msg("empty")}</p>
          )
        }
      />

      <Pager total={total} page={page} pageSize={pageSize} update={update} />
    </div>
  );
}
