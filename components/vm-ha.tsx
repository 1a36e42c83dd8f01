"use client";
// High availability of one VM (issue 14, ADR 036): the switch (PATCH /api/v1/vms/:id {ha}) with what
// it means on local storage. The server refuses it for VMs with attached volumes (they live on one
// host) and says so; the message is shown as-is. The switch is for vm:operate; others see the state.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTranslations } from "next-intl";
import { useState } from "react";
import { vmKeys, vmQuery } from "@/lib/queries/vms";
import { writeJson } from "@/lib/queries/volumes";
import { listKeys } from "@/lib/queries/lists";
import type { VmDto } from "@/lib/schemas/api";

export function VmHa({ vmId, canOperate }: { vmId: string; canOperate: boolean }) {
  const qc = useQueryClient();
  const t = useTranslations("vmHa");
  const common = useTranslations("common");
  const vm = useQuery(vmQuery(vmId));
  const [error, setError] = useState<string | null>(null);
  const patch = useMutation({
    mutationFn: (ha: boolean) => writeJson<VmDto>("PATCH", `/api/v1/vms/${encodeURIComponent(vmId)}`, { ha }),
    onMutate: () => setError(null),
    onError: (e: Error) => setError(e.message),
    onSuccess: (dto) => qc.setQueryData(vmKeys.detail(vmId), dto),
    onSettled: () =>
      Promise.all(
        [vmKeys.detail(vmId), vmKeys.events(vmId), listKeys.all("vms")].map((queryKey) =>
          qc.invalidateQueries({ queryKey }),
        ),
      ),
  });
  if (!vm.data) return null;
  const ha = patch.isPending && patch.variables !== undefined ? patch.variables : vm.data.ha;

  return (
    <section data-testid="vm-ha" aria-label={t("title")}>
      <h2 className="mb-2 text-lg font-semibold">{t("title")}</h2>
      <div className="flex flex-wrap items-center gap-3 text-sm">
        {canOperate ? (
          <label className="flex items-center gap-2">
            <input
              type="checkbox"
              role="switch"
              data-testid="vm-ha-toggle"
              checked={ha}
              aria-checked={ha}
              disabled={patch.isPending}
              onChange={(e) => patch.mutate(e.target.checked)}
            />
            {t("restart")}
          </label>
        ) : (
          <span>{t("restartColon")}</span>
        )}
        <span
          data-testid="vm-ha-state"
          className={`rounded px-1.5 py-0.5 text-xs font-medium ${ha ? "bg-green-100 text-green-800" : "bg-slate-100 text-slate-700"}`}
        >
          {patch.isPending ? t("saving") : ha ? t("on") : t("off")}
        </span>
      </div>
      <p className="mt-1 text-xs text-slate-600">{common("haCaveat")}</p>
      {error && (
        <p role="alert" className="mt-2 rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">
          {error}
        </p>
      )}
    </section>
  );
}
