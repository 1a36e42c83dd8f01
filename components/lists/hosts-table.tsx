"use client";
import Link from "next/link";
import { DataTable, type Column } from "@/components/data-table";
import { ArchBadge, StatusBadge } from "@/components/badges";
import { HOST_STATUSES } from "@/lib/schemas/statuses";
import { formatMb, timeAgo } from "@/lib/format";
import type { HostDto } from "@/lib/schemas/api";

/** A row as GET /api/v1/hosts answers it (lib/schemas/api.ts hostDtoSchema). */
export type HostRow = HostDto;

const columns: Column<HostRow>[] = [
  {
    key: "name",
    label: "Name",
    sortable: true,
    render: (h) => (
      <Link href={`/hosts/${h.id}`} className="font-medium text-indigo-700 hover:underline">
        {h.name}
        {h.approval === "pending" && (
          <span
            data-testid="host-pending-badge"
            title="Joined with a join token; an admin must approve it before VMs are placed on it"
            className="ml-2 rounded bg-amber-100 px-1.5 py-0.5 text-xs text-amber-900"
          >
            pending approval
          </span>
        )}
      </Link>
    ),
  },
  { key: "arch", label: "Architecture", sortable: true, render: (h) => <ArchBadge arch={h.arch} /> },
  { key: "status", label: "Status", sortable: true, render: (h) => <StatusBadge status={h.status} /> },
  {
    key: "cpuCount",
    label: "CPU",
    sortable: true,
    render: (h) => (
      <span title={h.cpuModel ?? undefined}>
        {h.cpuCount} × {h.cpuModel ?? "unknown"}
      </span>
    ),
  },
  { key: "memoryMb", label: "Memory", sortable: true, render: (h) => formatMb(h.memoryMb) },
  {
    key: "free",
    label: "Free vCPU / RAM",
    render: (h) => `${h.capacity.vcpuFree}/${h.capacity.vcpuTotal} · ${formatMb(h.capacity.memoryFreeMb)}`,
  },
  {
    key: "runs",
    label: "Runs",
    render: (h) => (
      <span className="text-xs">
        {h.nativeArches.length > 0 && (
          <span>
            native: {h.nativeArches.join(", ")} ({h.kvm ? "KVM" : "TCG"})
          </span>
        )}
        {h.nativeArches.length > 0 && h.emulatedArches.length > 0 && <br />}
        {h.emulatedArches.length > 0 && <span className="text-amber-700">emulated: {h.emulatedArches.join(", ")}</span>}
        {h.nativeArches.length + h.emulatedArches.length === 0 && "—"}
      </span>
    ),
  },
  { key: "vms", label: "VMs", render: (h) => h.vmCount ?? 0 },
  { key: "heartbeat", label: "Last heartbeat", render: (h) => timeAgo(h.lastHeartbeatAt) },
];

export function HostsTable() {
  return (
    <DataTable<HostRow>
      kind="hosts"
      columns={columns}
      statuses={HOST_STATUSES}
      defaultSort="name"
      rowKey={(h) => h.id}
      empty={
        <p>
          No hosts yet. Start an agent on a node with the cluster join token (see the README:{" "}
          <code>node dist/agent.mjs --controller … --join-token-file …</code>); it appears here within seconds.
        </p>
      }
    />
  );
}
