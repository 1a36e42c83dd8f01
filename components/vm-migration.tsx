"use client";
// "Move" on the VM page (issue 14), like Proxmox's Migrate dialog: the pinned machine type and CPU
// model, live or cold, every host with a verdict and all its reasons and warnings (GET
// /api/v1/vms/:id/migration-preview), the scheduler's pick, Migrate per eligible host or "let the
// scheduler choose", then the task's progress with Cancel and the downtime once done. The buttons
// are for host:manage; the server checks the role, the project and the verdict again.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTranslations } from "next-intl";
import { useState } from "react";
import { ArchBadge, StatusBadge } from "@/components/badges";
import { useReasonText } from "@/components/placement-reasons";
import { MIGRATE_TASK_KIND, formatMs, latestTask, orderVerdicts, taskProgress } from "@/lib/migration-view";
import { migrationPreviewQuery, mobilityKeys } from "@/lib/queries/mobility";
import { vmKeys, vmQuery, vmTasksQuery } from "@/lib/queries/vms";
import { writeJson } from "@/lib/queries/volumes";
import { listKeys } from "@/lib/queries/lists";
import type { MigrationHostVerdict, MigrationPreview } from "@/lib/schemas/migration";
import type { VmTaskDto } from "@/lib/schemas/vms";

const BUTTON =
  "rounded-md px-2.5 py-1 text-sm font-medium ring-1 ring-slate-300 hover:bg-slate-100 disabled:opacity-50";
const PRIMARY = "rounded-md bg-indigo-600 px-3 py-1.5 text-sm font-medium text-white disabled:opacity-50";

export function VmMigration({ vmId, canMigrate }: { vmId: string; canMigrate: boolean }) {
  const qc = useQueryClient();
  const t = useTranslations("vmMigration");
  const vm = useQuery(vmQuery(vmId));
  const preview = useQuery(migrationPreviewQuery(vmId));
  const tasks = useQuery(vmTasksQuery(vmId));
  const [error, setError] = useState<string | null>(null);
  const base = `/api/v1/vms/${encodeURIComponent(vmId)}`;

  const refresh = () =>
    Promise.all(
      [
        mobilityKeys.preview(vmId),
        vmKeys.detail(vmId),
        vmKeys.tasks(vmId),
        vmKeys.events(vmId),
        listKeys.all("vms"),
      ].map((queryKey) => qc.invalidateQueries({ queryKey })),
    );
  const migrate = useMutation({
    mutationFn: (hostId: string | null) =>
      writeJson<{ task: { id: string } }>("POST", `${base}/migrate`, hostId ? { hostId } : {}),
    onMutate: () => setError(null),
    onError: (e: Error) => setError(e.message),
    onSettled: refresh,
  });
  const cancel = useMutation({
    mutationFn: () => writeJson("POST", `${base}/migrate/cancel`),
    onMutate: () => setError(null),
    onError: (e: Error) => setError(e.message),
    onSettled: refresh,
  });

  const reasonText = useReasonText();
  const p = preview.data;
  const task = latestTask(tasks.data?.items, MIGRATE_TASK_KIND);
  const running = task !== null && taskProgress(task).active;
  const canStart = canMigrate && !!p && !p.blocked && !running && !migrate.isPending;
  const recommended = p?.hosts.find((h) => h.id === p.recommendedHostId) ?? null;

  return (
    <section data-testid="vm-migration" aria-label={t("sectionLabel")}>
      <h2 className="mb-2 text-lg font-semibold">{t("title")}</h2>
      <dl className="mb-3 grid gap-3 text-sm sm:grid-cols-4">
        <Fact label={t("machineType")} testId="vm-machine-type">
          {vm.data?.machineType ?? p?.machineType ?? t("notPinned")}
        </Fact>
        <Fact label={t("cpuModel")} testId="vm-cpu-model">
          {vm.data?.cpuModel ?? p?.cpuModel ?? t("defaultCpu")}
        </Fact>
        <Fact label={t("mode")} testId="migration-mode">
          {p ? (p.migrationMode === "live" ? t("modeLive") : t("modeCold")) : "—"}
        </Fact>
        <Fact label={t("generation")}>{vm.data?.generation ?? "—"}</Fact>
      </dl>
      {error && (
        <p role="alert" className="mb-2 rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">
          {error}
        </p>
      )}
      {task && (
        <MigrationProgress
          task={task}
          canCancel={canMigrate}
          cancelling={cancel.isPending}
          onCancel={() => cancel.mutate()}
        />
      )}
      {preview.isError && (
        <p role="alert" className="mb-2 text-sm text-red-700">
          {preview.error.message}
        </p>
      )}
      {p?.blocked && (
        <p data-testid="migration-blocked" className="mb-2 rounded-md bg-amber-50 px-3 py-2 text-sm text-amber-900">
          {t("blocked", { reason: reasonText(p.blocked) })}
        </p>
      )}
      {p && <PreviewSummary preview={p} recommended={recommended} />}
      {p && canMigrate && (
        <button
          type="button"
          data-testid="migrate-auto"
          className={`${PRIMARY} mb-3`}
          disabled={!canStart || !recommended}
          onClick={() => migrate.mutate(null)}
        >
          {migrate.isPending && migrate.variables === null ? t("starting") : t("auto")}
        </button>
      )}
      {p && (
        <VerdictTable
          preview={p}
          canMigrate={canMigrate}
          disabled={!canStart}
          pendingHostId={migrate.isPending ? migrate.variables : undefined}
          onMigrate={(hostId) => migrate.mutate(hostId)}
        />
      )}
    </section>
  );
}

function PreviewSummary({
  preview,
  recommended,
}: {
  preview: MigrationPreview;
  recommended: MigrationHostVerdict | null;
}) {
  const targets = preview.hosts.filter((h) => h.ok).length;
  const t = useTranslations("vmMigration");
  return (
    <p className="mb-2 text-sm text-slate-700" data-testid="migration-summary">
      {targets === 0
        ? t("noTarget")
        : recommended
          ? t("targetsPick", { n: targets, host: recommended.name })
          : t("targets", { n: targets })}
    </p>
  );
}

function VerdictTable(props: {
  preview: MigrationPreview;
  canMigrate: boolean;
  disabled: boolean;
  pendingHostId: string | null | undefined;
  onMigrate: (hostId: string) => void;
}) {
  const { preview, canMigrate } = props;
  const live = preview.migrationMode === "live";
  const t = useTranslations("vmMigration");
  const reasonText = useReasonText();
  return (
    <table className="w-full rounded-lg border border-slate-200 bg-white text-sm" data-testid="migration-preview">
      <thead className="text-left text-xs uppercase text-slate-500">
        <tr>
          <th className="px-3 py-2">{t("host")}</th>
          <th className="px-3 py-2">{t("verdict")}</th>
          <th className="px-3 py-2">{t("why")}</th>
          {canMigrate && <th className="px-3 py-2" />}
        </tr>
      </thead>
      <tbody className="divide-y divide-slate-100">
        {orderVerdicts(preview.hosts, preview.recommendedHostId).map((h) => (
          <tr key={h.id} data-testid={`migration-row-${h.name}`} data-ok={h.ok} className="align-top">
            <td className="px-3 py-2">
              <span className="font-medium">{h.name}</span> <ArchBadge arch={h.arch} emulated={h.mode === "emulated"} />
              <span className="ml-1">
                <StatusBadge status={h.status} />
              </span>
              {h.current && <span className="ml-1 text-xs text-slate-500">{t("currentHost")}</span>}
              {h.id === preview.recommendedHostId && (
                <span
                  data-testid="migration-recommended"
                  className="ml-1 rounded bg-indigo-100 px-1.5 text-xs text-indigo-800"
                >
                  {t("recommended")}
                </span>
              )}
            </td>
            <td className={`px-3 py-2 font-medium ${h.ok ? "text-green-700" : "text-red-700"}`}>
              <span aria-hidden="true">{h.ok ? "✓" : "✗"}</span>{" "}
              {h.ok ? t(`verdicts.${h.mode ?? "ok"}`) : t("verdicts.no")}
            </td>
            <td className="px-3 py-2" data-testid="migration-reasons">
              <ul className="space-y-0.5">
                {h.reasons.map((r) => (
                  <li key={r} className="text-red-700">
                    {reasonText(r)}
                  </li>
                ))}
                {h.warnings.map((w) => (
                  <li key={w} className="text-amber-800">
                    ⚠ {reasonText(w)}
                  </li>
                ))}
              </ul>
            </td>
            {canMigrate && (
              <td className="px-3 py-2 text-right whitespace-nowrap">
                {h.ok && (
                  <button
                    type="button"
                    data-testid="migrate-button"
                    className={BUTTON}
                    disabled={props.disabled}
                    onClick={() => props.onMigrate(h.id)}
                  >
                    {props.pendingHostId === h.id ? t("starting") : live ? t("liveMigrate") : t("migrate")}
                  </button>
                )}
              </td>
            )}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function MigrationProgress(props: { task: VmTaskDto; canCancel: boolean; cancelling: boolean; onCancel: () => void }) {
  const { task } = props;
  const p = taskProgress(task);
  const t = useTranslations("vmMigration");
  const r = task.status === "succeeded" ? task.result : null;
  const outcome = r
    ? t(r.mode === "live" ? "outcomeLive" : "outcomeCold", { took: formatMs(r.totalMs) }) +
      (r.downtimeMs === null ? "" : t("downtime", { downtime: formatMs(r.downtimeMs) }))
    : null;
  return (
    <div
      data-testid="migration-progress"
      data-status={task.status}
      className="mb-3 rounded-md border border-slate-200 bg-slate-50 px-3 py-2 text-sm"
    >
      <div className="flex flex-wrap items-center justify-between gap-2">
        <span className="flex items-center gap-2">
          {t("migration")} <StatusBadge status={task.status} />
          {p.step && (
            <span className="text-slate-600">
              {t(p.active ? "atStep" : "lastStep", { step: p.step })}
              {p.stepMessage ? ` — ${p.stepMessage}` : ""}
            </span>
          )}
        </span>
        {p.active && props.canCancel && (
          <button
            type="button"
            data-testid="migration-cancel"
            className={BUTTON}
            disabled={props.cancelling}
            onClick={() => {
              if (confirm(t("confirmCancel"))) props.onCancel();
            }}
          >
            {props.cancelling ? t("cancelling") : t("cancel")}
          </button>
        )}
      </div>
      <div
        role="progressbar"
        aria-label={t("progress")}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={p.percent}
        className="mt-2 h-2 overflow-hidden rounded bg-slate-200"
      >
        <div
          className={`h-full ${task.status === "failed" ? "bg-red-500" : "bg-indigo-600"}`}
          style={{ width: `${p.percent}%` }}
        />
      </div>
      <p className="mt-1 text-xs text-slate-600" data-testid="migration-percent">
        {p.percent}%
      </p>
      {outcome && (
        <p className="mt-1 text-green-800" data-testid="migration-outcome">
          {outcome}
        </p>
      )}
      {task.status === "failed" && task.error && <p className="mt-1 text-red-700">{task.error}</p>}
    </div>
  );
}

function Fact({ label, testId, children }: { label: string; testId?: string; children: React.ReactNode }) {
  return (
    <div>
      <dt className="text-xs font-medium uppercase text-slate-500">{label}</dt>
      <dd className="mt-1" data-testid={testId}>
        {children}
      </dd>
    </div>
  );
}
