"use client";
import Link from "next/link";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTranslations } from "next-intl";
import { useState } from "react";
import { ArchBadge, StatusBadge, useStatusLabel } from "@/components/badges";
import { fetchJson } from "@/lib/queries/fetch-json";
import { HostCredentials } from "@/components/host-credentials";
import { HostMaintenance } from "@/components/host-maintenance";
import { listKeys } from "@/lib/queries/lists";
import { useDisplayFormat } from "@/components/use-display-format";
import type { HostDto as HostDetail, VmDto as VmRow } from "@/lib/schemas/api";

/** The host facts' `network` (lib/schemas/agent-api.ts), as the host DTO carries it; null/absent = unknown. */
type HostNetwork = { dhcp: boolean; externalNetwork: boolean } | null;

export function HostDetailView({ id, canManage }: { id: string; canManage: boolean }) {
  const qc = useQueryClient();
  const t = useTranslations("hostDetail");
  const fmt = useDisplayFormat();
  const statusName = useStatusLabel();
  const host = useQuery({
    queryKey: ["hosts", "detail", id],
    queryFn: () => fetchJson<HostDetail>(`/api/v1/hosts/${encodeURIComponent(id)}`),
    refetchInterval: 5_000,
  });
  const vms = useQuery({
    queryKey: ["vms", "list", { hostId: id }],
    queryFn: () =>
      fetchJson<{ items: VmRow[]; total: number }>(`/api/v1/vms?hostId=${encodeURIComponent(id)}&pageSize=200`),
    refetchInterval: 5_000,
  });
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const update = useMutation({
    mutationFn: (body: Record<string, unknown>) =>
      fetchJson<HostDetail>(`/api/v1/hosts/${encodeURIComponent(id)}`, {
        method: "PATCH",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      }),
    onSuccess: () => setMessage({ ok: true, text: t("saved") }),
    onError: (e) => setMessage({ ok: false, text: e.message }),
    onSettled: () =>
      Promise.all([
        qc.invalidateQueries({ queryKey: ["hosts"] }),
        qc.invalidateQueries({ queryKey: listKeys.all("hosts") }),
      ]),
  });

  if (host.isPending) return <p className="text-sm text-slate-500">{t("loading")}</p>;
  if (host.isError)
    return (
      <p role="alert" className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">
        {host.error.message}
      </p>
    );
  const h = host.data;
  // What the agent's networking offers (its facts, ADR 058); absent from older agents = unknown.
  const network = (h as HostDetail & { network?: HostNetwork }).network;
  const yesNo = (v: boolean | undefined) => (v === undefined ? t("unknown") : v ? t("yes") : t("no"));

  function onSave(e: React.FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const num = (k: string) => Number(f.get(k));
    update.mutate({
      cpuAllocationRatio: num("cpuAllocationRatio"),
      ramAllocationRatio: num("ramAllocationRatio"),
      reservedCpus: num("reservedCpus"),
      reservedMemoryMb: num("reservedMemoryMb"),
      reservedDiskGb: num("reservedDiskGb"),
    });
  }

  return (
    <div className="space-y-6">
      <div className="flex flex-wrap items-start justify-between gap-4">
        <div>
          <h1 className="flex items-center gap-3 text-2xl font-semibold tracking-tight">
            {h.name} <ArchBadge arch={h.arch} />
            {h.approval === "pending" && (
              <span
                data-testid="host-pending-badge"
                title={t("pendingTitle")}
                className="rounded bg-amber-100 px-2 py-0.5 text-sm font-normal text-amber-900"
              >
                {t("pendingApproval")}
              </span>
            )}
          </h1>
          <p className="mt-1 flex items-center gap-2 text-sm text-slate-600">
            <span data-testid="host-status">
              <StatusBadge status={h.status} />
            </span>{" "}
            {t("agentState", { connectivity: statusName(h.connectivity), ago: fmt.since(h.lastHeartbeatAt) })}
          </p>
        </div>
        {canManage && (
          <div className="flex gap-2" role="group" aria-label={t("hostState")}>
            {/* Maintenance (with evacuation) is its own section below. */}
            {(["enabled", "disabled"] as const).map((s) => (
              <button
                key={s}
                type="button"
                disabled={update.isPending || h.adminState === s}
                onClick={() => {
                  if (s !== "enabled" && !confirm(t("confirmDisable"))) return;
                  update.mutate({ adminState: s });
                }}
                className={
                  "rounded-md px-3 py-1.5 text-sm ring-1 " +
                  (h.adminState === s ? "bg-slate-800 text-white ring-slate-800" : "ring-slate-300 hover:bg-slate-100")
                }
              >
                {s === "enabled" ? t("enable") : t("disable")}
              </button>
            ))}
          </div>
        )}
      </div>
      {message && (
        <p
          role={message.ok ? "status" : "alert"}
          className={`rounded-md px-3 py-2 text-sm ${message.ok ? "bg-green-50 text-green-800" : "bg-red-50 text-red-700"}`}
        >
          {message.text}
        </p>
      )}

      <dl className="grid gap-4 rounded-lg border border-slate-200 bg-white p-4 text-sm sm:grid-cols-3">
        <Item label={t("cpu")}>
          {h.cpuCount} × {h.cpuModel ?? t("unknown")}
        </Item>
        <Item label={t("memory")}>{fmt.mib(h.memoryMb)}</Item>
        <Item label={t("disk")}>{h.diskGb} GiB</Item>
        <Item label={t("runs")}>
          {h.nativeArches
            .map((a) => t("runsNative", { arch: a, accel: h.kvm ? "KVM" : "TCG" }))
            .concat(h.emulatedArches.map((a) => t("runsEmulated", { arch: a })))
            .join(", ") || "—"}
        </Item>
        <Item label="QEMU / OVS">
          {h.qemuVersion ?? "—"} / {h.ovsDatapath ?? "—"}
        </Item>
        <Item label={t("agent")}>{h.agentUrl ?? "—"}</Item>
        <Item label={t("externalNetwork")}>
          <span data-testid="host-external-network">{yesNo(network?.externalNetwork)}</span>
        </Item>
        <Item label={t("dhcp")}>
          <span data-testid="host-dhcp">{yesNo(network?.dhcp)}</span>
        </Item>
        <Item label={t("vcpuAllocated")}>
          {t("usedOf", { used: h.capacity.vcpuUsed, total: h.capacity.vcpuTotal })}
        </Item>
        <Item label={t("ramAllocated")}>
          {t("usedOf", { used: fmt.mib(h.capacity.memoryUsedMb), total: fmt.mib(h.capacity.memoryTotalMb) })}
        </Item>
        <Item label={t("diskAllocated")}>
          {t("usedOfGib", { used: h.capacity.diskUsedGb, total: h.capacity.diskTotalGb })}
        </Item>
      </dl>

      {canManage && <HostMaintenance hostId={h.id} adminState={h.adminState} />}

      {canManage && (
        <HostCredentials
          id={h.id}
          name={h.name}
          certFingerprint={h.certFingerprint}
          certExpiresAt={h.certExpiresAt}
          revokedAt={h.revokedAt}
        />
      )}

      {canManage && (
        <form
          onSubmit={onSave}
          className="rounded-lg border border-slate-200 bg-white p-4"
          aria-label={t("capacitySettings")}
        >
          <h2 className="mb-3 font-semibold">{t("overcommit")}</h2>
          <div className="grid gap-3 sm:grid-cols-5">
            <Num name="cpuAllocationRatio" label={t("cpuRatio")} value={h.cpuAllocationRatio} step="0.1" />
            <Num name="ramAllocationRatio" label={t("ramRatio")} value={h.ramAllocationRatio} step="0.1" />
            <Num name="reservedCpus" label={t("reservedCpus")} value={h.reservedCpus} />
            <Num name="reservedMemoryMb" label={t("reservedMib")} value={h.reservedMemoryMb} />
            <Num name="reservedDiskGb" label={t("reservedGib")} value={h.reservedDiskGb} />
          </div>
          <button
            type="submit"
            disabled={update.isPending}
            className="mt-3 rounded-md bg-indigo-600 px-4 py-2 text-sm font-medium text-white disabled:opacity-50"
          >
            {t("save")}
          </button>
        </form>
      )}

      <section>
        <h2 className="mb-2 text-lg font-semibold">{t("vmsOnHost", { n: vms.data?.total ?? 0 })}</h2>
        <ul className="divide-y divide-slate-100 rounded-lg border border-slate-200 bg-white text-sm">
          {vms.data?.items.map((v) => (
            <li key={v.id} className="flex items-center justify-between px-3 py-2">
              <Link href={`/vms/${v.id}`} className="font-medium text-indigo-700 hover:underline">
                {v.name}
              </Link>
              <span className="flex items-center gap-2">
                <ArchBadge arch={v.arch} emulated={v.emulated} />
                <StatusBadge status={v.status} />
              </span>
            </li>
          ))}
          {vms.data?.items.length === 0 && <li className="px-3 py-4 text-slate-500">{t("noVms")}</li>}
        </ul>
      </section>
    </div>
  );
}

function Item({ label, children }: { label: string; children: React.ReactNode }) {
  return (
    <div>
      <dt className="text-xs font-medium uppercase text-slate-500">{label}</dt>
      <dd className="mt-1">{children}</dd>
    </div>
  );
}

function Num({ name, label, value, step = "1" }: { name: string; label: string; value: number; step?: string }) {
  return (
    <label className="text-sm">
      <span className="block font-medium">{label}</span>
      <input
        name={name}
        type="number"
        step={step}
        min={0}
        defaultValue={value}
        className="mt-1 w-full rounded-md border border-slate-300 px-2 py-1.5"
      />
    </label>
  );
}
