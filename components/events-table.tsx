"use client";
// "Tasks & events": every task (VM create / start / stop / reboot / force off / delete / retry) with
// who started it, the VM, the host and how it ended. Filters by result, VM, host, user and time
// range; server-side pagination and sorting; all state in the URL; polls like the other lists.
import Link from "next/link";
import { useQuery } from "@tanstack/react-query";
import { usePathname, useRouter, useSearchParams } from "next/navigation";
import { useEffect, useRef, useState } from "react";
import { EVENT_PARAM_KEYS, eventsQuery } from "@/lib/queries/events";
import { TASK_RESULTS } from "@/lib/schemas/entities";
import type { TaskEventDto } from "@/lib/schemas/events";
import { ArchBadge, StatusBadge } from "@/components/badges";
import { formatDate } from "@/lib/format";

const TEXT_FILTERS = [
  { key: "vm", label: "VM", placeholder: "VM name…" },
  { key: "host", label: "Host", placeholder: "host name…" },
  { key: "user", label: "User", placeholder: "email…" },
  { key: "q", label: "Kind or error", placeholder: "vm.start, timeout…" },
] as const;
type TextKey = (typeof TEXT_FILTERS)[number]["key"];

const SORTABLE = new Set(["createdAt", "finishedAt", "kind", "status"]);

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

const COLUMNS: { key: string; label: string; render: (t: TaskEventDto) => React.ReactNode; className?: string }[] = [
  { key: "createdAt", label: "Started", className: "whitespace-nowrap", render: (t) => formatDate(t.createdAt) },
  { key: "kind", label: "Task", render: (t) => <code className="text-xs">{t.kind}</code> },
  { key: "status", label: "Result", render: (t) => <StatusBadge status={t.status} /> },
  {
    key: "vm", label: "VM",
    render: (t) => (t.vm ? <span className="inline-flex items-center gap-1"><Link href={`/vms/${t.vm.id}`} className="font-medium text-indigo-700 hover:underline">{t.vm.name}</Link> <ArchBadge arch={t.vm.arch} /></span> : <span className="text-slate-400">deleted</span>),
  },
  { key: "host", label: "Host", render: (t) => (t.host ? <Link href={`/hosts/${t.host.id}`} className="hover:underline">{t.host.name}</Link> : "—") },
  { key: "user", label: "User", render: (t) => t.user?.email ?? "—" },
  { key: "finishedAt", label: "Finished", className: "whitespace-nowrap", render: (t) => (t.finishedAt ? `${formatDate(t.finishedAt)} (${duration(t)})` : "—") },
  { key: "error", label: "Error", render: (t) => <span className="block max-w-xs truncate text-xs text-red-700" title={t.error ?? undefined}>{t.error ?? ""}</span> },
];

export function EventsTable() {
  const router = useRouter();
  const pathname = usePathname();
  const searchParams = useSearchParams();
  const params: Record<string, string> = {};
  for (const k of EVENT_PARAM_KEYS) {
    const v = searchParams.get(k);
    if (v) params[k] = v;
  }
  const sort = params.sort ?? "createdAt";
  const dir = (params.dir ?? "desc") as "asc" | "desc";
  const page = Number(params.page ?? "1") || 1;
  const pageSize = Number(params.pageSize ?? "25") || 25;
  const query = useQuery(eventsQuery({ ...params, sort, dir, page: String(page), pageSize: String(pageSize) }));

  // Two quick changes must build on each other, not on the URL the page rendered with.
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

  // Text filters are debounced so typing does not fire a request per key.
  const [text, setText] = useState<Record<TextKey, string>>({ vm: params.vm ?? "", host: params.host ?? "", user: params.user ?? "", q: params.q ?? "" });
  useEffect(() => {
    const changed = TEXT_FILTERS.filter(({ key }) => (params[key] ?? "") !== text[key]);
    if (changed.length === 0) return;
    const t = setTimeout(() => update(Object.fromEntries(changed.map(({ key }) => [key, text[key] || undefined]))), 300);
    return () => clearTimeout(t);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [text]);

  const total = query.data?.total ?? 0;
  const items = query.data?.items ?? [];
  const first = total === 0 ? 0 : (page - 1) * pageSize + 1;
  const last = Math.min(total, page * pageSize);
  const pages = Math.max(1, Math.ceil(total / pageSize));
  const filtered = EVENT_PARAM_KEYS.some((k) => !["page", "pageSize", "sort", "dir"].includes(k) && params[k]);

  function clearFilters() {
    setText({ vm: "", host: "", user: "", q: "" });
    update(Object.fromEntries(EVENT_PARAM_KEYS.filter((k) => !["pageSize", "sort", "dir"].includes(k)).map((k) => [k, undefined])));
  }

  return (
    <div className="space-y-3">
      <div className="flex flex-wrap items-end gap-3" role="search" aria-label="Filter tasks">
        <label className="text-sm">
          <span className="block text-xs font-medium text-slate-600">Result</span>
          <select name="status" value={params.status ?? ""} onChange={(e) => update({ status: e.target.value || undefined })} className="mt-1 rounded-md border border-slate-300 bg-white px-2 py-1.5">
            <option value="">All</option>
            {TASK_RESULTS.map((s) => <option key={s} value={s}>{s}</option>)}
          </select>
        </label>
        {TEXT_FILTERS.map(({ key, label, placeholder }) => (
          <label key={key} className="text-sm">
            <span className="block text-xs font-medium text-slate-600">{label}</span>
            <input type="search" name={key} value={text[key]} maxLength={100} placeholder={placeholder} onChange={(e) => setText((t) => ({ ...t, [key]: e.target.value }))} className="mt-1 w-40 rounded-md border border-slate-300 bg-white px-2 py-1.5" />
          </label>
        ))}
        <label className="text-sm">
          <span className="block text-xs font-medium text-slate-600">From</span>
          <input type="datetime-local" name="from" value={toLocalInput(params.from)} onChange={(e) => update({ from: fromLocalInput(e.target.value) })} className="mt-1 rounded-md border border-slate-300 bg-white px-2 py-1.5" />
        </label>
        <label className="text-sm">
          <span className="block text-xs font-medium text-slate-600">To</span>
          <input type="datetime-local" name="to" value={toLocalInput(params.to)} onChange={(e) => update({ to: fromLocalInput(e.target.value) })} className="mt-1 rounded-md border border-slate-300 bg-white px-2 py-1.5" />
        </label>
        {(params.vmId || params.hostId || params.userId) && (
          <span className="pb-2 text-xs text-slate-600">
            Only {params.vmId ? "this VM" : params.hostId ? "this host" : "this user"}{" "}
            <button type="button" className="text-indigo-700 underline" onClick={() => update({ vmId: undefined, hostId: undefined, userId: undefined })}>show all</button>
          </span>
        )}
        {query.isFetching && <span className="pb-2 text-xs text-slate-400" aria-live="polite">refreshing…</span>}
      </div>

      {query.isError && <p role="alert" className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">{query.error.message}</p>}

      <div className="overflow-x-auto rounded-lg border border-slate-200 bg-white">
        <table className="min-w-full divide-y divide-slate-200 text-sm">
          <thead className="bg-slate-50">
            <tr>
              {COLUMNS.map((c) => {
                const active = sort === c.key;
                return (
                  <th key={c.key} scope="col" aria-sort={active ? (dir === "asc" ? "ascending" : "descending") : undefined} className={`px-3 py-2 text-left text-xs font-semibold uppercase tracking-wide text-slate-600 ${c.className ?? ""}`}>
                    {SORTABLE.has(c.key) ? (
                      <button type="button" className="inline-flex items-center gap-1 uppercase hover:text-slate-900" onClick={() => update({ sort: c.key, dir: active && dir === "desc" ? "asc" : "desc" })}>
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
            {items.map((t) => (
              <tr key={t.id} className="hover:bg-slate-50" data-testid="event-row" data-status={t.status}>
                {COLUMNS.map((c) => <td key={c.key} className={`px-3 py-2 align-middle ${c.className ?? ""}`}>{c.render(t)}</td>)}
              </tr>
            ))}
          </tbody>
        </table>
        {query.isSuccess && items.length === 0 && (
          <div className="px-6 py-10 text-center text-sm text-slate-600" data-testid="empty-state">
            {filtered ? <p>No tasks match these filters. <button type="button" className="text-indigo-700 underline" onClick={clearFilters}>Clear filters</button></p> : <p>No tasks yet. Creating, starting or stopping a VM records a task here.</p>}
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
