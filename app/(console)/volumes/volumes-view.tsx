"use client";
// The Volumes page: every volume the caller may see with its size, host (and the host's arch),
// attached VM and status (polled). Operators also get the create form and the row actions:
// attach to a VM on the volume's host, detach, grow, delete. Viewers see the list only.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useState } from "react";
import { useTranslations } from "next-intl";
import { ArchBadge, StatusBadge } from "@/components/badges";
import { listKeys, listQueryOptions } from "@/lib/queries/lists";
import { projectsQuery } from "@/lib/queries/projects";
import { volumeHostsQuery, volumeKeys, volumesQuery, writeJson } from "@/lib/queries/volumes";
import type { VmDto } from "@/lib/schemas/api";
import type { VolumeDto } from "@/lib/schemas/volumes";

const BUTTON =
  "rounded-md px-2.5 py-1 text-sm font-medium ring-1 ring-slate-300 hover:bg-slate-100 disabled:opacity-50";
const DANGER =
  "rounded-md px-2.5 py-1 text-sm font-medium text-red-700 ring-1 ring-red-300 hover:bg-red-50 disabled:opacity-50";
const INPUT = "mt-1 rounded-md border border-slate-300 px-2 py-1.5 text-sm";

type RowForm = { id: string; kind: "attach" | "grow"; value: string };

export function VolumesView({ canCreate, canOperate }: { canCreate: boolean; canOperate: boolean }) {
  const t = useTranslations("volumesPage");
  const qc = useQueryClient();
  const volumes = useQuery(volumesQuery());
  const hosts = useQuery({ ...volumeHostsQuery, enabled: canCreate });
  const projects = useQuery({ ...projectsQuery(), enabled: canCreate });
  const vms = useQuery({ ...listQueryOptions<VmDto>("vms", { pageSize: "200", sort: "name" }), enabled: canOperate });
  const [form, setForm] = useState({ name: "", sizeGb: "1", hostId: "", projectId: "" });
  const [row, setRow] = useState<RowForm | null>(null);
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);

  const mutation = <A,>(fn: (arg: A) => Promise<unknown>, ok: (arg: A) => string) => ({
    mutationFn: fn,
    onMutate: () => setMessage(null),
    onError: (e: Error) => setMessage({ ok: false, text: e.message }),
    onSuccess: (_: unknown, arg: A) => {
      setMessage({ ok: true, text: ok(arg) });
      setRow(null);
    },
    onSettled: () =>
      Promise.all([volumeKeys.all, listKeys.all("vms")].map((queryKey) => qc.invalidateQueries({ queryKey }))),
  });
  const create = useMutation(
    mutation(
      (f: typeof form) =>
        writeJson("POST", "/api/v1/volumes", {
          name: f.name.trim(),
          sizeGb: Number(f.sizeGb),
          ...(f.hostId ? { hostId: f.hostId } : {}),
          ...(f.projectId ? { projectId: f.projectId } : {}),
        }),
      (f) => t("created", { name: f.name.trim() }),
    ),
  );
  const attach = useMutation(
    mutation(
      (a: { volume: VolumeDto; vmId: string }) =>
        writeJson("POST", `/api/v1/vms/${encodeURIComponent(a.vmId)}/volumes`, { volumeId: a.volume.id }),
      (a) => t("attached", { name: a.volume.name }),
    ),
  );
  const detach = useMutation(
    mutation(
      (v: VolumeDto) =>
        writeJson("DELETE", `/api/v1/vms/${encodeURIComponent(v.vm!.id)}/volumes/${encodeURIComponent(v.id)}`),
      (v) => t("detached", { name: v.name, vm: v.vm?.name ?? "" }),
    ),
  );
  const grow = useMutation(
    mutation(
      (g: { volume: VolumeDto; sizeGb: number }) =>
        writeJson("PATCH", `/api/v1/volumes/${encodeURIComponent(g.volume.id)}`, { sizeGb: g.sizeGb }),
      (g) => t("grown", { name: g.volume.name, size: g.sizeGb }),
    ),
  );
  const remove = useMutation(
    mutation(
      (v: VolumeDto) => writeJson("DELETE", `/api/v1/volumes/${encodeURIComponent(v.id)}`),
      (v) => t("deleted", { name: v.name }),
    ),
  );
  const busy = create.isPending || attach.isPending || detach.isPending || grow.isPending || remove.isPending;
  const items = volumes.data?.items ?? [];
  /** VMs a volume may attach to: on its host (any host when unplaced), of its project, running or stopped. */
  const targets = (v: VolumeDto) =>
    (vms.data?.items ?? []).filter(
      (vm) =>
        ["running", "stopped"].includes(vm.status) &&
        vm.host &&
        (!v.host || vm.host.id === v.host.id) &&
        (vm.project?.id ?? null) === (v.project?.id ?? null),
    );

  return (
    <div className="space-y-6">
      {message && (
        <p
          role={message.ok ? "status" : "alert"}
          className={`rounded-md px-3 py-2 text-sm ${message.ok ? "bg-green-50 text-green-800" : "bg-red-50 text-red-700"}`}
        >
          {message.text}
        </p>
      )}
      {canCreate && (
        <section className="rounded-lg border border-slate-200 bg-white p-4">
          <h2 className="mb-3 font-semibold">{t("createHeading")}</h2>
          <form
            aria-label={t("createForm")}
            className="flex flex-wrap items-end gap-3"
            onSubmit={(e) => {
              e.preventDefault();
              create.mutate(form);
            }}
          >
            <label className="text-sm">
              <span className="block font-medium">{t("name")}</span>
              <input
                name="name"
                value={form.name}
                onChange={(e) => setForm({ ...form, name: e.target.value })}
                placeholder="data"
                className={`${INPUT} w-40`}
              />
            </label>
            <label className="text-sm">
              <span className="block font-medium">{t("sizeGib")}</span>
              <input
                name="sizeGb"
                type="number"
                min={1}
                value={form.sizeGb}
                onChange={(e) => setForm({ ...form, sizeGb: e.target.value })}
                className={`${INPUT} w-24`}
              />
            </label>
            <label className="text-sm">
              <span className="block font-medium">{t("host")}</span>
              <select
                name="hostId"
                value={form.hostId}
                onChange={(e) => setForm({ ...form, hostId: e.target.value })}
                className={INPUT}
              >
                <option value="">{t("noHostYet")}</option>
                {(hosts.data?.items ?? []).map((h) => (
                  <option key={h.id} value={h.id}>
                    {t("hostOption", { host: h.name, arch: h.arch, free: h.capacity.diskFreeGb })}
                  </option>
                ))}
              </select>
            </label>
            {(projects.data?.items.length ?? 0) > 1 && (
              <label className="text-sm">
                <span className="block font-medium">{t("project")}</span>
                <select
                  name="projectId"
                  value={form.projectId}
                  onChange={(e) => setForm({ ...form, projectId: e.target.value })}
                  className={INPUT}
                >
                  <option value="">{t("firstProject")}</option>
                  {(projects.data?.items ?? []).map((p) => (
                    <option key={p.id} value={p.id}>
                      {p.name}
                    </option>
                  ))}
                </select>
              </label>
            )}
            <button
              type="submit"
              disabled={busy || !form.name.trim()}
              className="rounded-md bg-indigo-600 px-4 py-2 text-sm font-medium text-white hover:bg-indigo-700 disabled:opacity-60"
            >
              {create.isPending ? t("creating") : t("create")}
            </button>
          </form>
        </section>
      )}

      <section className="overflow-x-auto rounded-lg border border-slate-200 bg-white">
        <table className="w-full text-left text-sm" data-testid="volumes-table">
          <thead className="bg-slate-50 text-xs uppercase text-slate-500">
            <tr>
              <th className="px-3 py-2">{t("colName")}</th>
              <th className="px-3 py-2">{t("colSize")}</th>
              <th className="px-3 py-2">{t("colHost")}</th>
              <th className="px-3 py-2">{t("colArch")}</th>
              <th className="px-3 py-2">{t("colAttached")}</th>
              <th className="px-3 py-2">{t("colStatus")}</th>
              {canOperate && <th className="px-3 py-2 text-right">{t("colActions")}</th>}
            </tr>
          </thead>
          <tbody>
            {volumes.isPending && (
              <tr>
                <td colSpan={7} className="px-3 py-3 text-slate-500">
                  {t("loading")}
                </td>
              </tr>
            )}
            {!volumes.isPending && items.length === 0 && (
              <tr>
                <td colSpan={7} className="px-3 py-3 text-slate-500">
                  {t("empty")}
                </td>
              </tr>
            )}
            {items.map((v) => (
              <tr key={v.id} className="border-t border-slate-100" data-testid={`volume-row-${v.name}`}>
                <td className="px-3 py-2 font-medium">{v.name}</td>
                <td className="px-3 py-2">{t("size", { size: v.sizeGb })}</td>
                <td className="px-3 py-2">{v.host?.name ?? <span className="text-slate-500">{t("unplaced")}</span>}</td>
                <td className="px-3 py-2">{v.host ? <ArchBadge arch={v.host.arch} /> : "—"}</td>
                <td className="px-3 py-2">
                  {v.vm ? (
                    <Link href={`/vms/${v.vm.id}`} className="text-indigo-700 hover:underline">
                      {v.vm.name}
                    </Link>
                  ) : (
                    "—"
                  )}
                </td>
                <td className="px-3 py-2">
                  <StatusBadge status={v.status} />
                  {v.lastError && <span className="ml-2 text-xs text-red-700">{v.lastError}</span>}
                </td>
                {canOperate && (
                  <td className="space-x-2 whitespace-nowrap px-3 py-2 text-right">
                    {row?.id === v.id ? (
                      <form
                        className="inline-flex items-center gap-1"
                        onSubmit={(e) => {
                          e.preventDefault();
                          if (row.kind === "attach" && row.value) attach.mutate({ volume: v, vmId: row.value });
                          if (row.kind === "grow") grow.mutate({ volume: v, sizeGb: Number(row.value) });
                        }}
                      >
                        {row.kind === "attach" ? (
                          <select
                            aria-label={t("attachTo", { name: v.name })}
                            value={row.value}
                            onChange={(e) => setRow({ ...row, value: e.target.value })}
                            className="rounded-md border border-slate-300 px-2 py-1 text-sm"
                          >
                            <option value="">
                              {targets(v).length
                                ? t("chooseVm")
                                : v.host
                                  ? t("noVmOnHost", { host: v.host.name })
                                  : t("noVmInProject")}
                            </option>
                            {targets(v).map((vm) => (
                              <option key={vm.id} value={vm.id}>
                                {vm.name} ({vm.host?.name})
                              </option>
                            ))}
                          </select>
                        ) : (
                          <input
                            aria-label={t("newSize", { name: v.name })}
                            type="number"
                            min={v.sizeGb + 1}
                            value={row.value}
                            onChange={(e) => setRow({ ...row, value: e.target.value })}
                            className="w-20 rounded-md border border-slate-300 px-2 py-1 text-sm"
                          />
                        )}
                        <button type="submit" className={BUTTON} disabled={busy}>
                          {row.kind === "attach" ? t("attach") : t("grow")}
                        </button>
                        <button type="button" className={BUTTON} onClick={() => setRow(null)}>
                          {t("cancel")}
                        </button>
                      </form>
                    ) : (
                      <>
                        {v.vm ? (
                          <button
                            type="button"
                            className={BUTTON}
                            disabled={busy || v.status !== "in-use"}
                            onClick={() => {
                              if (confirm(t("confirmDetach", { name: v.name, vm: v.vm!.name }))) detach.mutate(v);
                            }}
                          >
                            {t("detach")}
                          </button>
                        ) : (
                          <button
                            type="button"
                            className={BUTTON}
                            disabled={busy || v.status !== "available"}
                            onClick={() => setRow({ id: v.id, kind: "attach", value: "" })}
                          >
                            {t("attachMenu")}
                          </button>
                        )}
                        <button
                          type="button"
                          className={BUTTON}
                          disabled={busy || !["available", "in-use"].includes(v.status)}
                          onClick={() => setRow({ id: v.id, kind: "grow", value: String(v.sizeGb + 1) })}
                        >
                          {t("growMenu")}
                        </button>
                        <button
                          type="button"
                          className={DANGER}
                          disabled={busy || Boolean(v.vm)}
                          title={v.vm ? t("detachFirst") : undefined}
                          onClick={() => {
                            if (confirm(t("confirmDelete", { name: v.name }))) remove.mutate(v);
                          }}
                        >
                          {t("delete")}
                        </button>
                      </>
                    )}
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </div>
  );
}
