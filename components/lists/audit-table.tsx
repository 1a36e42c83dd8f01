"use client";
import { DataTable, type Column } from "@/components/data-table";
import { StatusBadge } from "@/components/badges";
import { formatDate } from "@/lib/format";
import type { AuditEventDto } from "@/lib/schemas/api";

/** A row as GET /api/v1/audit answers it (lib/schemas/api.ts auditEventDtoSchema). */
type AuditRow = AuditEventDto;

const columns: Column<AuditRow>[] = [
  {
    key: "createdAt",
    label: "When",
    sortable: true,
    className: "whitespace-nowrap",
    render: (a) => formatDate(a.createdAt),
  },
  { key: "user", label: "User", render: (a) => a.userEmail ?? "—" },
  { key: "action", label: "Action", sortable: true, render: (a) => <code className="text-xs">{a.action}</code> },
  { key: "target", label: "Target", render: (a) => (a.targetType ? `${a.targetType} ${a.targetId ?? ""}` : "—") },
  { key: "result", label: "Result", sortable: true, render: (a) => <StatusBadge status={a.result} /> },
  { key: "clientIp", label: "Client", render: (a) => a.clientIp ?? "—" },
  {
    key: "details",
    label: "Details",
    render: (a) => (
      <span className="block max-w-xs truncate text-xs text-slate-500" title={a.details ?? undefined}>
        {a.details ?? ""}
      </span>
    ),
  },
];

export function AuditTable() {
  return (
    <DataTable<AuditRow>
      kind="audit"
      columns={columns}
      statuses={["success", "denied", "error"]}
      statusLabel="Result"
      archFilter={false}
      searchLabel="Action or user"
      defaultSort="createdAt"
      defaultDir="desc"
      rowKey={(a) => a.id}
      empty={<p>No audit events yet.</p>}
    />
  );
}
