"use client";
import Link from "next/link";
import { useTranslations } from "next-intl";
import { DataTable, type Column } from "@/components/data-table";
import { ArchBadge, StatusBadge } from "@/components/badges";
import { HOST_STATUSES } from "@/lib/schemas/statuses";
import { useDisplayFormat, type DisplayFormat } from "@/components/use-display-format";
import type { HostDto } from "@/lib/schemas/api";

/** A row as GET /api/v1/hosts answers it (lib/schemas/api.ts hostDtoSchema). */
export type HostRow = HostDto;

type T = ReturnType<typeof useTranslations>;

const columns = (t: T, fmt: DisplayFormat): Column<HostRow>[] => [
  {
    key: "name",
    label: t("name"),
    sortable: true,
    render: (h) => (
      <Link href={`/hosts/${h.id}`} className="font-medium text-indigo-700 hover:underline">
        {h.name}
        {h.approval === "pending" && (
          <span
            data-testid="host-pending-badge"
            title={t("pendingTitle")}
            className="ml-2 rounded bg-amber-100 px-1.5 py-0.5 text-xs text-amber-900"
          >
            {t("pendingApproval")}
          </span>
        )}
      </Link>
    ),
  },
  { key: "arch", label: t("architecture"), sortable: true, render: (h) => <ArchBadge arch={h.arch} /> },
  { key: "status", label: t("status"), sortable: true, render: (h) => <StatusBadge status={h.status} /> },
  {
    key: "cpuCount",
    label: t("cpu"),
    sortable: true,
    render: (h) => (
      <span title={h.cpuModel ?? undefined} translate="no">
        {h.cpuCount} × {h.cpuModel ?? t("unknown")}
      </span>
    ),
  },
  { key: "memoryMb", label: t("memory"), sortable: true, render: (h) => fmt.mib(h.memoryMb) },
  {
    key: "free",
    label: t("free"),
    render: (h) => `${h.capacity.vcpuFree}/${h.capacity.vcpuTotal} · ${fmt.mib(h.capacity.memoryFreeMb)}`,
  },
  {
    key: "runs",
    label: t("runs"),
    render: (h) => (
      <span className="text-xs">
        {h.nativeArches.length > 0 && (
          <span>{t("native", { arches: h.nativeArches.join(", "), accel: h.kvm ? "KVM" : "TCG" })}</span>
        )}
        {h.nativeArches.length > 0 && h.emulatedArches.length > 0 && <br />}
        {h.emulatedArches.length > 0 && (
          <span className="text-amber-700">{t("emulatedArches", { arches: h.emulatedArches.join(", ") })}</span>
        )}
        {h.nativeArches.length + h.emulatedArches.length === 0 && "—"}
      </span>
    ),
  },
  { key: "vms", label: t("vms"), render: (h) => h.vmCount ?? 0 },
  { key: "heartbeat", label: t("lastHeartbeat"), render: (h) => fmt.since(h.lastHeartbeatAt) },
];

export function HostsTable() {
  const t = useTranslations("hosts");
  const fmt = useDisplayFormat();
  return (
    <DataTable<HostRow>
      kind="hosts"
      columns={columns(t, fmt)}
      statuses={HOST_STATUSES}
      defaultSort="name"
      rowKey={(h) => h.id}
      empty={<p>{t.rich("empty", { code: (chunks) => <code>{chunks}</code> })}</p>}
    />
  );
}
