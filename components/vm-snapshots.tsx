"use client";
// A VM's snapshots and capture to image (issue 13): list, create (with memory when the VM runs),
// revert and delete with a confirmation, and "Create image" from a snapshot or from the stopped
// VM's disk. Calls the JSON API (/api/v1/vms/:id/snapshots, /capture); the server checks the role,
// the project and the VM's state again, and its messages (e.g. no room on the host) are shown as-is.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTranslations } from "next-intl";
import { useState } from "react";
import { StatusBadge, useStatusLabel } from "@/components/badges";
import { useDisplayFormat } from "@/components/use-display-format";
import { listKeys } from "@/lib/queries/lists";
import { sendJson, snapshotKeys, snapshotsQuery } from "@/lib/queries/snapshots";
import { vmKeys, vmQuery } from "@/lib/queries/vms";
import type { StoredImageDto } from "@/lib/schemas/api";
import type { SnapshotDto } from "@/lib/schemas/snapshots";

const BUTTON =
  "rounded-md px-2.5 py-1 text-sm font-medium ring-1 ring-slate-300 hover:bg-slate-100 disabled:opacity-50";
const DANGER =
  "rounded-md px-2.5 py-1 text-sm font-medium text-red-700 ring-1 ring-red-300 hover:bg-red-50 disabled:opacity-50";
const INPUT = "rounded-md border border-slate-300 px-2 py-1 text-sm";

export function VmSnapshots({ vmId, canOperate }: { vmId: string; canOperate: boolean }) {
  const qc = useQueryClient();
  const t = useTranslations("vmSnapshots");
  const fmt = useDisplayFormat();
  const statusName = useStatusLabel();
  const vm = useQuery(vmQuery(vmId));
  const list = useQuery(snapshotsQuery(vmId));
  const [error, setError] = useState<string | null>(null);
  const [name, setName] = useState("");
  const [memory, setMemory] = useState(false);
  /** which capture form is open: a snapshot id, "disk" for the stopped VM, or none */
  const [capturing, setCapturing] = useState<string | null>(null);
  const [captured, setCaptured] = useState<StoredImageDto | null>(null);
  const base = `/api/v1/vms/${encodeURIComponent(vmId)}`;

  const refresh = () =>
    Promise.all(
      [snapshotKeys.list(vmId), vmKeys.detail(vmId), vmKeys.tasks(vmId), vmKeys.events(vmId)].map((queryKey) =>
        qc.invalidateQueries({ queryKey }),
      ),
    );
  const mutation = <A,>(fn: (arg: A) => Promise<unknown>) => ({
    mutationFn: fn,
    onMutate: () => setError(null),
    onError: (e: Error) => setError(e.message),
    onSettled: refresh,
  });
  const create = useMutation(
    mutation(() =>
      sendJson<SnapshotDto>("POST", `${base}/snapshots`, { name: name.trim(), memory: running && memory }),
    ),
  );
  const revert = useMutation(
    mutation((s: SnapshotDto) => sendJson("POST", `${base}/snapshots/${encodeURIComponent(s.id)}/revert`)),
  );
  const remove = useMutation(
    mutation((s: SnapshotDto) => sendJson("DELETE", `${base}/snapshots/${encodeURIComponent(s.id)}`)),
  );
  const capture = useMutation({
    mutationFn: (body: { name: string; family?: string; snapshotId?: string }) =>
      sendJson<StoredImageDto>("POST", `${base}/capture`, body),
    onMutate: () => setError(null),
    onError: (e: Error) => setError(e.message),
    onSettled: refresh,
    onSuccess: async (image) => {
      setCaptured(image);
      setCapturing(null);
      await qc.invalidateQueries({ queryKey: listKeys.all("images") });
    },
  });

  const status = vm.data?.status;
  const running = status === "running";
  const settled = status === "running" || status === "stopped";
  const busy = create.isPending || revert.isPending || remove.isPending || capture.isPending;
  const items = list.data?.items ?? [];

  return (
    <section data-testid="vm-snapshots">
      <h2 className="mb-2 text-lg font-semibold">{t("title")}</h2>
      {error && (
        <p role="alert" className="mb-2 rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">
          {error}
        </p>
      )}
      {captured && (
        <p role="status" className="mb-2 rounded-md bg-emerald-50 px-3 py-2 text-sm text-emerald-800">
          {t.rich("captured", {
            name: captured.name,
            arch: captured.arch,
            size: fmt.bytes(captured.sizeBytes),
            status: statusName(captured.status),
            link: (chunks) => (
              <a className="font-medium underline" href={`/images/${encodeURIComponent(captured.id)}`}>
                {chunks}
              </a>
            ),
          })}
        </p>
      )}
      {canOperate && settled && (
        <form
          className="mb-3 flex flex-wrap items-center gap-2"
          aria-label={t("newSnapshot")}
          onSubmit={(e) => {
            e.preventDefault();
            if (name.trim()) create.mutate(undefined);
          }}
        >
          <input
            className={INPUT}
            aria-label={t("snapshotName")}
            placeholder={t("snapshotNamePlaceholder")}
            maxLength={64}
            value={name}
            onChange={(e) => setName(e.target.value)}
          />
          {running && (
            <label className="flex items-center gap-1 text-sm">
              <input type="checkbox" checked={memory} onChange={(e) => setMemory(e.target.checked)} />{" "}
              {t("includeMemory")}
            </label>
          )}
          <button type="submit" className={BUTTON} disabled={busy || !name.trim()}>
            {create.isPending ? t("taking") : t("take")}
          </button>
          {status === "stopped" && (
            <button type="button" className={BUTTON} disabled={busy} onClick={() => setCapturing("disk")}>
              {t("imageFromDisk")}
            </button>
          )}
        </form>
      )}
      {capturing === "disk" && (
        <CaptureForm busy={capture.isPending} onCancel={() => setCapturing(null)} onSubmit={(b) => capture.mutate(b)} />
      )}
      <table className="w-full rounded-lg border border-slate-200 bg-white text-sm">
        <thead className="text-left text-xs uppercase text-slate-500">
          <tr>
            <th className="px-3 py-2">{t("name")}</th>
            <th className="px-3 py-2">{t("memory")}</th>
            <th className="px-3 py-2">{t("created")}</th>
            <th className="px-3 py-2">{t("status")}</th>
            {canOperate && <th className="px-3 py-2" />}
          </tr>
        </thead>
        <tbody className="divide-y divide-slate-100">
          {items.map((s) => (
            <tr key={s.id} data-testid="snapshot-row" data-name={s.name}>
              <td className="px-3 py-2 font-medium">
                {s.name}
                {s.lastError && <p className="text-xs text-red-700">{s.lastError}</p>}
                {capturing === s.id && (
                  <CaptureForm
                    busy={capture.isPending}
                    onCancel={() => setCapturing(null)}
                    onSubmit={(b) => capture.mutate({ ...b, snapshotId: s.id })}
                  />
                )}
              </td>
              <td className="px-3 py-2">
                {s.memory ? t("withMemory", { size: fmt.bytes(s.vmStateBytes) }) : t("diskOnly")}
              </td>
              <td className="px-3 py-2">{fmt.when(s.createdAt)}</td>
              <td className="px-3 py-2">
                <StatusBadge status={s.status} />
              </td>
              {canOperate && (
                <td className="space-x-2 px-3 py-2 text-right whitespace-nowrap">
                  <button
                    type="button"
                    className={BUTTON}
                    disabled={busy || s.status !== "ready" || !settled}
                    onClick={() => {
                      const how = t(s.memory ? "howMemory" : running ? "howRunning" : "howStopped");
                      const vmName = vm.data?.name ?? t("theVm");
                      if (confirm(t("confirmRevert", { vm: vmName, name: s.name, how }))) revert.mutate(s);
                    }}
                  >
                    {revert.isPending && revert.variables?.id === s.id ? t("reverting") : t("revert")}
                  </button>
                  <button
                    type="button"
                    className={BUTTON}
                    disabled={busy || s.status !== "ready"}
                    onClick={() => setCapturing(s.id)}
                  >
                    {t("createImage")}
                  </button>
                  <button
                    type="button"
                    className={DANGER}
                    disabled={busy || !["ready", "error"].includes(s.status)}
                    onClick={() => {
                      if (confirm(t("confirmDelete", { name: s.name }))) remove.mutate(s);
                    }}
                  >
                    {remove.isPending && remove.variables?.id === s.id ? t("deleting") : t("delete")}
                  </button>
                </td>
              )}
            </tr>
          ))}
          {list.isSuccess && items.length === 0 && (
            <tr>
              <td colSpan={canOperate ? 5 : 4} className="px-3 py-3 text-slate-500">
                {t("empty")}
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
  );
}

function CaptureForm({
  busy,
  onSubmit,
  onCancel,
}: {
  busy: boolean;
  onSubmit: (body: { name: string; family?: string }) => void;
  onCancel: () => void;
}) {
  const [name, setName] = useState("");
  const [family, setFamily] = useState("");
  const t = useTranslations("vmSnapshots");
  return (
    <form
      className="my-2 flex flex-wrap items-center gap-2"
      aria-label={t("createImage")}
      onSubmit={(e) => {
        e.preventDefault();
        if (name.trim()) onSubmit({ name: name.trim(), ...(family.trim() ? { family: family.trim() } : {}) });
      }}
    >
      <input
        className={INPUT}
        aria-label={t("imageName")}
        placeholder={t("imageNamePlaceholder")}
        value={name}
        onChange={(e) => setName(e.target.value)}
      />
      <input
        className={INPUT}
        aria-label={t("imageFamily")}
        placeholder={t("imageFamilyPlaceholder")}
        value={family}
        onChange={(e) => setFamily(e.target.value)}
      />
      <button type="submit" className={BUTTON} disabled={busy || !name.trim()}>
        {busy ? t("creatingImage") : t("createImage")}
      </button>
      <button type="button" className={BUTTON} disabled={busy} onClick={onCancel}>
        {t("cancel")}
      </button>
    </form>
  );
}
