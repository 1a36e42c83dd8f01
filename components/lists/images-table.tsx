"use client";
import { DataTable, type Column } from "@/components/data-table";
import { ArchBadge, StatusBadge } from "@/components/badges";
import { IMAGE_STATUSES } from "@/lib/schemas/entities";
import { formatBytes } from "@/lib/format";
import type { Arch } from "@/lib/arch";

export type ImageRow = { id: string; name: string; family: string | null; arch: Arch; format: string; sizeBytes: number; firmware: string; status: string; vmCount?: number };

const columns: Column<ImageRow>[] = [
  { key: "name", label: "Name", sortable: true, render: (i) => <span className="font-medium">{i.name}</span> },
  { key: "family", label: "Family", render: (i) => i.family ?? "—" },
  { key: "arch", label: "Architecture", sortable: true, render: (i) => <ArchBadge arch={i.arch} /> },
  { key: "status", label: "Status", sortable: true, render: (i) => <StatusBadge status={i.status} /> },
  { key: "format", label: "Format", sortable: true, render: (i) => i.format },
  { key: "firmware", label: "Firmware", render: (i) => i.firmware.toUpperCase() },
  { key: "sizeBytes", label: "Size", sortable: true, render: (i) => formatBytes(i.sizeBytes) },
  { key: "vms", label: "VMs", render: (i) => i.vmCount ?? 0 },
];

export function ImagesTable() {
  return (
    <DataTable<ImageRow>
      kind="images" columns={columns} statuses={IMAGE_STATUSES} defaultSort="name" rowKey={(i) => i.id}
      empty={<p>No images yet. Upload a disk or kernel image for x86_64 or aarch64 to create VMs from it.</p>}
    />
  );
}
