"use client";
// A VM's data volumes (issue 13): the attached ones in guest order (vdb, vdc, … on a Linux guest),
// detach and grow; attach an available volume of the VM's host (a volume lives on one host and
// attaches only to VMs there — the unplaced ones take this host); create-and-attach. Calls the
// JSON API; the server checks the role, the project, the host and the room again.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTranslations } from "next-intl";
import { useState } from "react";
import { StatusBadge } from "@/components/badges";
import { vmKeys, vmQuery } from "@/lib/queries/vms";
import { vmVolumesQuery, volumeKeys, volumesQuery, writeJson } from "@/lib/queries/volumes";
import type { VolumeDto } from "@/lib/schemas/volumes";

const BUTTON =
  "rounded-md px-2.5 py-1 text-sm font-medium ring-1 ring-slate-300 hover:bg-slate-100 disabled:opacity-50";
const INPUT = "rounded-md border border-slate-300 px-2 py-1 text-sm";

/** Linux names virtio disks in order: vda is the root disk, volumes follow. */
const guestName = (i: number) => `vd${String.fromCharCode("b".charCodeAt(0) + i)}`;

export function VmVolumes({ vmId, canOperate }: { vmId: string; canOperate: boolean }) {
  const qc = useQueryClient();
  const t = useTranslations("vmVolumes");
  const vm = useQuery(vmQuery(vmId));
  const attached = useQuery(vmVolumesQuery(vmId));
  const all = useQuery({ ...volumesQuery(), enabled: canOperate });
  const [error, setError] = useState<string | null>(null);
  const [pick, setPick] = useState("");
  const [name, setName] = useState("");
  const [sizeGb, setSizeGb] = useState("1");
  const [growing, setGrowing] = useState<{ id: string; sizeGb: string } | null>(null);
  const base = `/api/v1/vms/${encodeURIComponent(vmId)}`;

  const refresh = () =>
    Promise.all(
      [volumeKeys.all, vmKeys.detail(vmId), vmKeys.tasks(vmId), vmKeys.events(vmId)].map((queryKey) =>
        qc.invalidateQueries({ queryKey }),
      ),
    );
  const mutation = <A,>(fn: (arg: A) => Promise<unknown>) => ({
    mutationFn: fn,
    onMutate: () => setError(null),
    onError: (e: Error) => setError(e.message),
    onSettled: refresh,
  });
  const attach = useMutation(mutation((volumeId: string) => writeJson("POST", `${base}/volumes`, { volumeId })));
  const detach = useMutation(
    mutation((v: VolumeDto) => writeJson("DELETE", `${base}/volumes/${encodeURIComponent(v.id)}`)),
  );
  const grow = useMutation(
    mutation((g: { id: string; sizeGb: number }) =>
      writeJson("PATCH", `/api/v1/volumes/${encodeURIComponent(g.id)}`, { sizeGb: g.sizeGb }),
    ),
  );
  const create = useMutation(
    mutation((body: { name: string; sizeGb: number }) => writeJson("POST", "/api/v1/volumes", { ...body, vmId })),
  );

  const v = vm.data;
  const settled = v?.status === "running" || v?.status === "stopped";
  const busy = attach.isPending || detach.isPending || grow.isPending || create.isPending;
  const items = attached.data?.items ?? [];
  // What may be attached here: available, on this VM's host or not placed yet, of the VM's project.
  const candidates = (all.data?.items ?? []).filter(
    (x) =>
      !x.vm &&
      x.status === "available" &&
      (!x.host || x.host.id === v?.host?.id) &&
      (x.project?.id ?? null) === (v?.project?.id ?? null),
  );
  const elsewhere = (all.data?.items ?? []).filter((x) => !x.vm && x.host && x.host.id !== v?.host?.id).length;

  return (
    <section data-testid="vm-volumes">
      <h2 className="mb-2 text-lg font-semibold">{t("title")}</h2>
      {error && (
        <p role="alert" className="mb-2 rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">
          {error}
        </p>
      )}
      {items.length === 0 ? (
        <p className="text-sm text-slate-500">{t("none")}</p>
      ) : (
        <table className="w-full text-left text-sm">
          <thead className="text-xs uppercase text-slate-500">
            <tr>
              <th className="py-1">{t("name")}</th>
              <th>{t("guestDisk")}</th>
              <th>{t("size")}</th>
              <th>{t("status")}</th>
              {canOperate && <th className="sr-only">{t("actions")}</th>}
            </tr>
          </thead>
          <tbody>
            {items.map((x, i) => (
              <tr key={x.id} className="border-t border-slate-100" data-testid={`vm-volume-${x.name}`}>
                <td className="py-1.5 font-medium">{x.name}</td>
                <td className="font-mono text-xs text-slate-600" title={t("guestDiskTitle")}>
                  {guestName(i)}
                </td>
                <td>{x.sizeGb} GiB</td>
                <td>
                  <StatusBadge status={x.status} />
                </td>
                {canOperate && (
                  <td className="space-x-2 text-right">
                    {growing?.id === x.id ? (
                      <form
                        className="inline-flex items-center gap-1"
                        onSubmit={(e) => {
                          e.preventDefault();
                          grow.mutate({ id: x.id, sizeGb: Number(growing.sizeGb) });
                          setGrowing(null);
                        }}
                      >
                        <input
                          aria-label={t("newSize", { name: x.name })}
                          type="number"
                          min={x.sizeGb + 1}
                          value={growing.sizeGb}
                          onChange={(e) => setGrowing({ id: x.id, sizeGb: e.target.value })}
                          className={`${INPUT} w-20`}
                        />
                        <button type="submit" className={BUTTON} disabled={busy}>
                          {t("grow")}
                        </button>
                      </form>
                    ) : (
                      <button
                        type="button"
                        className={BUTTON}
                        disabled={busy || !settled}
                        onClick={() => setGrowing({ id: x.id, sizeGb: String(x.sizeGb + 1) })}
                      >
                        {t("growOpen")}
                      </button>
                    )}
                    <button
                      type="button"
                      className={BUTTON}
                      disabled={busy || !settled || x.status !== "in-use"}
                      onClick={() => {
                        if (confirm(t("confirmDetach", { name: x.name, vm: v?.name ?? "" }))) detach.mutate(x);
                      }}
                    >
                      {t("detach")}
                    </button>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {canOperate && settled && (
        <div className="mt-3 flex flex-wrap gap-6">
          <form
            aria-label={t("attachForm")}
            className="flex items-end gap-2"
            onSubmit={(e) => {
              e.preventDefault();
              if (pick) attach.mutate(pick);
            }}
          >
            <label className="text-sm">
              <span className="block font-medium">{t("attachLabel")}</span>
              <select value={pick} onChange={(e) => setPick(e.target.value)} className={`${INPUT} mt-1`}>
                <option value="">{candidates.length ? t("choose") : t("noneAvailable")}</option>
                {candidates.map((c) => (
                  <option key={c.id} value={c.id}>
                    {c.name} · {c.sizeGb} GiB{c.host ? "" : ` · ${t("unplaced")}`}
                  </option>
                ))}
              </select>
            </label>
            <button type="submit" className={BUTTON} disabled={busy || !pick}>
              {t("attach")}
            </button>
          </form>
          <form
            aria-label={t("createForm")}
            className="flex items-end gap-2"
            onSubmit={(e) => {
              e.preventDefault();
              create.mutate({ name: name.trim(), sizeGb: Number(sizeGb) });
            }}
          >
            <label className="text-sm">
              <span className="block font-medium">{t("newVolume")}</span>
              <input
                value={name}
                onChange={(e) => setName(e.target.value)}
                placeholder={t("namePlaceholder")}
                aria-label={t("volumeName")}
                className={`${INPUT} mt-1 w-32`}
              />
            </label>
            <label className="text-sm">
              <span className="block font-medium">GiB</span>
              <input
                type="number"
                min={1}
                value={sizeGb}
                onChange={(e) => setSizeGb(e.target.value)}
                aria-label={t("volumeSize")}
                className={`${INPUT} mt-1 w-20`}
              />
            </label>
            <button type="submit" className={BUTTON} disabled={busy || !name.trim()}>
              {create.isPending ? t("creating") : t("createAttach")}
            </button>
          </form>
        </div>
      )}
      <p className="mt-2 text-xs text-slate-500">
        {t("note", {
          where: v?.host ? ` (${v.host.name})` : "",
          others: elsewhere ? t("elsewhere", { n: elsewhere }) : "",
        })}
      </p>
    </section>
  );
}
