"use client";
import Link from "next/link";
import { DataTable, type Column } from "@/components/data-table";
import { ArchBadge, StatusBadge } from "@/components/badges";
import { VM_STATUSES } from "@/lib/schemas/statuses";
import { formatMb } from "@/lib/format";
import type { VmDto } from "@/lib/schemas/api";

/** A row as GET /api/v1/vms answers it (lib/schemas/api.ts vmDtoSchema). */
export type VmRow = VmDto;

const columns: Column<VmRow>[] = [
  {
    key: "name",
    label: "Name",
    sortable: true,
    render: (v) => (
      <Link href={`/vms/${v.id}`} className="font-medium text-indigo-700 hover:underline">
        {v.name}
      </Link>
    ),
  },
  {
    key: "arch",
    label: "Architecture",
    sortable: true,
    render: (v) => <ArchBadge arch={v.arch} emulated={v.emulated} />,
  },
  {
    key: "status",
    label: "Status",
    sortable: true,
    render: (v) => (
      <span title={v.lastError ?? undefined}>
        <StatusBadge status={v.status} />
      </span>
    ),
  },
  { key: "host", label: "Host", render: (v) => v.host?.name ?? "—" },
  // A VM without a project belongs to the default project (lib/server/vms/access.ts).
  {
    key: "project",
    label: "Project",
    render: (v) => <span data-testid="vm-project">{v.project?.name ?? "default"}</span>,
  },
  { key: "image", label: "Image", render: (v) => v.image?.name ?? "—" },
  { key: "vcpus", label: "vCPUs", sortable: true, render: (v) => v.vcpus },
  { key: "memoryMb", label: "Memory", sortable: true, render: (v) => formatMb(v.memoryMb) },
  { key: "disk", label: "Disk", render: (v) => `${v.diskGb} GiB` },
];

export function VmsTable() {
  return (
    <DataTable<VmRow>
      kind="vms"
      columns={columns}
      statuses={VM_STATUSES}
      defaultSort="name"
      rowKey={(v) => v.id}
      empty={
        <p>No virtual machines yet. Create one: pick x86_64 or aarch64, an image of that architecture, and a size.</p>
      }
    />
  );
}
