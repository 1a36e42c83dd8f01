"use client";
// The VM's CD drive (issue 13): shows the ISO in it; operators insert an ISO of the VM's
// architecture or eject (live on a running VM). An ISO install starts with its ISO inserted:
// eject it once the system is on the disk. Calls the JSON API; the server checks again.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTranslations } from "next-intl";
import { useState } from "react";
import { vmKeys, vmQuery } from "@/lib/queries/vms";
import { readyImagesQuery, vmMediaQuery, volumeKeys, writeJson } from "@/lib/queries/volumes";

const BUTTON =
  "rounded-md px-2.5 py-1 text-sm font-medium ring-1 ring-slate-300 hover:bg-slate-100 disabled:opacity-50";

export function VmMedia({ vmId, canOperate }: { vmId: string; canOperate: boolean }) {
  const qc = useQueryClient();
  const t = useTranslations("vmMedia");
  const vm = useQuery(vmQuery(vmId));
  const media = useQuery(vmMediaQuery(vmId));
  const arch = vm.data?.arch ?? "";
  const images = useQuery({ ...readyImagesQuery(arch), enabled: canOperate && Boolean(arch) });
  const [pick, setPick] = useState("");
  const [error, setError] = useState<string | null>(null);
  const url = `/api/v1/vms/${encodeURIComponent(vmId)}/media`;
  const refresh = () =>
    Promise.all(
      [volumeKeys.media(vmId), vmKeys.tasks(vmId), vmKeys.events(vmId)].map((queryKey) =>
        qc.invalidateQueries({ queryKey }),
      ),
    );
  const change = useMutation({
    mutationFn: (imageId: string | null) => (imageId ? writeJson("POST", url, { imageId }) : writeJson("DELETE", url)),
    onMutate: () => setError(null),
    onError: (e: Error) => setError(e.message),
    onSettled: refresh,
  });
  const isos = (images.data?.items ?? []).filter((i) => i.format === "iso");
  const settled = vm.data?.status === "running" || vm.data?.status === "stopped";
  const current = media.data?.image ?? null;

  return (
    <section data-testid="vm-media">
      <h2 className="mb-2 text-lg font-semibold">{t("title")}</h2>
      {error && (
        <p role="alert" className="mb-2 rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">
          {error}
        </p>
      )}
      <p className="text-sm" data-testid="vm-media-current">
        {current ? (
          <>{t.rich("inDrive", { name: current.name, b: (chunks) => <span className="font-medium">{chunks}</span> })}</>
        ) : (
          <span className="text-slate-500">{t("empty")}</span>
        )}
      </p>
      {canOperate && settled && (
        <div className="mt-2 flex flex-wrap items-center gap-2">
          <select
            aria-label={t("isoToInsert")}
            value={pick}
            onChange={(e) => setPick(e.target.value)}
            className="rounded-md border border-slate-300 px-2 py-1 text-sm"
          >
            <option value="">{isos.length ? t("chooseIso", { arch }) : t("noIso", { arch })}</option>
            {isos.map((i) => (
              <option key={i.id} value={i.id}>
                {i.name}
              </option>
            ))}
          </select>
          <button
            type="button"
            className={BUTTON}
            disabled={change.isPending || !pick}
            onClick={() => change.mutate(pick)}
          >
            {t("insert")}
          </button>
          <button
            type="button"
            className={BUTTON}
            disabled={change.isPending || !current}
            onClick={() => change.mutate(null)}
          >
            {t("eject")}
          </button>
        </div>
      )}
    </section>
  );
}
