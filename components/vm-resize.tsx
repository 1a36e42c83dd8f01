"use client";
// Resize a VM (issue 13): vCPUs and memory while it is stopped, the root disk only grows (online).
// The host's room is checked by the server in the same claim that records the new size; its
// answer (e.g. "needs 4096 MiB more RAM, 1024 free") is shown as it is.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTranslations } from "next-intl";
import { useState } from "react";
import { listKeys } from "@/lib/queries/lists";
import { vmKeys, vmQuery } from "@/lib/queries/vms";
import { writeJson } from "@/lib/queries/volumes";
import type { VmDto } from "@/lib/schemas/api";

const INPUT = "mt-1 w-24 rounded-md border border-slate-300 px-2 py-1 text-sm";

export function VmResize({ vmId }: { vmId: string }) {
  const qc = useQueryClient();
  const t = useTranslations("vmResize");
  const vm = useQuery(vmQuery(vmId));
  const [form, setForm] = useState<{ vcpus: string; memoryMb: string; diskGb: string } | null>(null);
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const resize = useMutation({
    mutationFn: (body: Record<string, number>) =>
      writeJson<VmDto>("POST", `/api/v1/vms/${encodeURIComponent(vmId)}/resize`, body),
    onMutate: () => setMessage(null),
    onError: (e: Error) => setMessage({ ok: false, text: e.message }),
    onSuccess: (v) => {
      setMessage({ ok: true, text: t("done", { vcpus: v.vcpus, memory: v.memoryMb, disk: v.diskGb }) });
      setForm(null);
    },
    onSettled: () =>
      Promise.all(
        [vmKeys.detail(vmId), vmKeys.tasks(vmId), vmKeys.events(vmId), listKeys.all("vms")].map((queryKey) =>
          qc.invalidateQueries({ queryKey }),
        ),
      ),
  });
  const v = vm.data;
  if (!v) return null;
  const stopped = v.status === "stopped";
  const values = form ?? { vcpus: String(v.vcpus), memoryMb: String(v.memoryMb), diskGb: String(v.diskGb) };
  const set = (k: keyof typeof values) => (e: React.ChangeEvent<HTMLInputElement>) =>
    setForm({ ...values, [k]: e.target.value });

  function submit(e: React.FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const body: Record<string, number> = {};
    if (Number(values.vcpus) !== v!.vcpus) body.vcpus = Number(values.vcpus);
    if (Number(values.memoryMb) !== v!.memoryMb) body.memoryMb = Number(values.memoryMb);
    if (Number(values.diskGb) !== v!.diskGb) body.diskGb = Number(values.diskGb);
    if (Object.keys(body).length === 0) return setMessage({ ok: false, text: t("nothing") });
    resize.mutate(body);
  }

  return (
    <section data-testid="vm-resize">
      <h2 className="mb-2 text-lg font-semibold">{t("title")}</h2>
      {message && (
        <p
          role={message.ok ? "status" : "alert"}
          className={`mb-2 rounded-md px-3 py-2 text-sm ${message.ok ? "bg-green-50 text-green-800" : "bg-red-50 text-red-700"}`}
        >
          {message.text}
        </p>
      )}
      <form aria-label={t("formLabel")} onSubmit={submit} className="flex flex-wrap items-end gap-3">
        <label className="text-sm">
          <span className="block font-medium">{t("vcpus")}</span>
          <input
            type="number"
            min={1}
            value={values.vcpus}
            onChange={set("vcpus")}
            disabled={!stopped}
            className={INPUT}
          />
        </label>
        <label className="text-sm">
          <span className="block font-medium">{t("memoryMib")}</span>
          <input
            type="number"
            min={64}
            step={64}
            value={values.memoryMb}
            onChange={set("memoryMb")}
            disabled={!stopped}
            className={INPUT}
          />
        </label>
        <label className="text-sm">
          <span className="block font-medium">{t("diskGib")}</span>
          <input type="number" min={v.diskGb} value={values.diskGb} onChange={set("diskGb")} className={INPUT} />
        </label>
        <button
          type="submit"
          disabled={resize.isPending || !["running", "stopped"].includes(v.status)}
          className="rounded-md px-3 py-1.5 text-sm font-medium ring-1 ring-slate-300 hover:bg-slate-100 disabled:opacity-50"
        >
          {resize.isPending ? t("resizing") : t("title")}
        </button>
      </form>
      <p className="mt-1 text-xs text-slate-500">{stopped ? t("hintStopped") : t("hintRunning")}</p>
    </section>
  );
}
