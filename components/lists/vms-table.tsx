"use client";
import Link from "next/link";
import { useTranslations } from "next-intl";
import { DataTable, type Column } from "@/components/data-table";
import { ArchBadge, StatusBadge } from "@/components/badges";
import { VM_STATUSES } from "@/lib/schemas/statuses";
import { useDisplayFormat, type DisplayFormat } from "@/components/use-display-format";
import type { VmDto } from "@/lib/schemas/api";

/** A row as GET /api/v1/vms answers it (lib/schemas/api.ts vmDtoSchema). */
export type VmRow = VmDto;

type T = ReturnType<typeof useTranslations>;

const columns = (t: T, fmt: DisplayFormat): Column<VmRow>[] => [
  {
    key: "name",
    label: t("name"),
    sortable: true,
    render: (v) => (
      <Link href={`/vms/${v.id}`} className="font-medium text-indigo-700 hover:underline">
        {v.name}
      </Link>
    ),
  },
  {
    key: "arch",
    label: t("architecture"),
    sortable: true,
    render: (v) => <ArchBadge arch={v.arch} emulated={v.emulated} />,
  },
  {
    key: "status",
    label: t("status"),
    sortable: true,
    render: (v) => (
      <span title={v.lastError ?? undefined}>
        <StatusBadge status={v.status} />
      </span>
    ),
  },
  { key: "host", label: t("host"), render: (v) => v.host?.name ?? "—" },
  // A VM without a project belongs to the default project (lib/server/vms/access.ts).
  {
    key: "project",
    label: t("project"),
    render: (v) => <span data-testid="vm-project">{v.project?.name ?? t("defaultProject")}</span>,
  },
  { key: "image", label: t("image"), render: (v) => v.image?.name ?? "—" },
  { key: "vcpus", label: t("vcpus"), sortable: true, render: (v) => v.vcpus },
  { key: "memoryMb", label: t("memory"), sortable: true, render: (v) => fmt.mib(v.memoryMb) },
  { key: "disk", label: t("disk"), render: (v) => `${v.diskGb} GiB` },
];

export function VmsTable() {
  const t = useTranslations("vms");
  const fmt = useDisplayFormat();
  return (
    <DataTable<VmRow>
      kind="vms"
      columns={columns(t, fmt)}
      statuses={VM_STATUSES}
      defaultSort="name"
      rowKey={(v) => v.id}
      empty={<p>{t("empty")}</p>}
    />
  );
}
