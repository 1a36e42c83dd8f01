"use client";
import { useTranslations } from "next-intl";
import { DataTable, type Column } from "@/components/data-table";
import { StatusBadge } from "@/components/badges";
import { useDisplayFormat, type DisplayFormat } from "@/components/use-display-format";
import type { AuditEventDto } from "@/lib/schemas/api";

/** A row as GET /api/v1/audit answers it (lib/schemas/api.ts auditEventDtoSchema). */
type AuditRow = AuditEventDto;

type T = ReturnType<typeof useTranslations>;

const columns = (t: T, fmt: DisplayFormat): Column<AuditRow>[] => [
  {
    key: "createdAt",
    label: t("when"),
    sortable: true,
    className: "whitespace-nowrap",
    render: (a) => fmt.when(a.createdAt),
  },
  { key: "user", label: t("user"), render: (a) => a.userEmail ?? "—" },
  {
    key: "action",
    label: t("action"),
    sortable: true,
    render: (a) => (
      <code className="text-xs" translate="no">
        {a.action}
      </code>
    ),
  },
  {
    key: "target",
    label: t("target"),
    render: (a) => (a.targetType ? <span translate="no">{`${a.targetType} ${a.targetId ?? ""}`}</span> : "—"),
  },
  { key: "result", label: t("result"), sortable: true, render: (a) => <StatusBadge status={a.result} /> },
  { key: "clientIp", label: t("client"), render: (a) => a.clientIp ?? "—" },
  {
    key: "details",
    label: t("details"),
    render: (a) => (
      <span className="block max-w-xs truncate text-xs text-slate-500" title={a.details ?? undefined} translate="no">
        {a.details ?? ""}
      </span>
    ),
  },
];

export function AuditTable() {
  const t = useTranslations("audit");
  const fmt = useDisplayFormat();
  return (
    <DataTable<AuditRow>
      kind="audit"
      columns={columns(t, fmt)}
      statuses={["success", "denied", "error"]}
      statusLabel={t("result")}
      archFilter={false}
      searchLabel={t("search")}
      defaultSort="createdAt"
      defaultDir="desc"
      rowKey={(a) => a.id}
      empty={<p>{t("empty")}</p>}
    />
  );
}
