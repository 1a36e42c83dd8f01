"use client";
// The live dashboard: per architecture, capacity as the scheduler counts it (allocation ratios and
// reservations applied), hosts / VMs / images by status; then task activity. Polls GET /api/v1/summary.
import Link from "next/link";
import { useQuery } from "@tanstack/react-query";
import { useTranslations } from "next-intl";
import { dashboardQuery } from "@/lib/queries/dashboard";
import { ARCHES, type Arch } from "@/lib/arch-labels";
import type { SummaryDto, TaskEventDto } from "@/lib/schemas/events";
import { ArchBadge, StatusBadge } from "@/components/badges";
import { useDisplayFormat } from "@/components/use-display-format";

type Capacity = SummaryDto["capacity"][Arch];

function total(counts: Record<string, number>) {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

function Card({
  id,
  title,
  href,
  arch,
  counts,
}: {
  id: string;
  title: string;
  href: string;
  arch: Arch;
  counts: Record<string, number>;
}) {
  const entries = Object.entries(counts).sort(([a], [b]) => a.localeCompare(b));
  const t = useTranslations("dashboard");
  return (
    <div className="rounded-lg border border-slate-200 bg-white p-4" data-testid={`card-${id}-${arch}`}>
      <div className="flex items-center justify-between">
        <Link href={`${href}?arch=${arch}`} className="text-sm font-medium text-slate-600 hover:underline">
          {title}
        </Link>
        <ArchBadge arch={arch} />
      </div>
      <p className="mt-2 text-3xl font-semibold" data-testid="count">
        {total(counts)}
      </p>
      <ul className="mt-2 flex flex-wrap gap-1">
        {entries.map(([status, n]) => (
          <li key={status}>
            <Link href={`${href}?arch=${arch}&status=${status}`}>
              <StatusBadge status={`${status}`} /> <span className="text-xs text-slate-600">{n}</span>
            </Link>
          </li>
        ))}
        {entries.length === 0 && <li className="text-xs text-slate-500">{t("none")}</li>}
      </ul>
    </div>
  );
}

function Meter({
  label,
  used,
  totalValue,
  free,
  format,
  testId,
}: {
  label: string;
  used: number;
  totalValue: number;
  free: number;
  format: (n: number) => string;
  testId: string;
}) {
  const pct = totalValue > 0 ? Math.min(100, Math.round((used / totalValue) * 100)) : 0;
  const tone = pct >= 90 ? "bg-red-500" : pct >= 70 ? "bg-amber-500" : "bg-indigo-500";
  const t = useTranslations("dashboard");
  return (
    <div data-testid={testId}>
      <div className="flex items-baseline justify-between text-sm">
        <span className="font-medium text-slate-700">{label}</span>
        <span className="text-slate-600">
          {t.rich("meter", {
            used: format(used),
            total: format(totalValue),
            free: format(free),
            u: (chunks) => <span data-testid="used">{chunks}</span>,
            t: (chunks) => <span data-testid="total">{chunks}</span>,
            f: (chunks) => (
              <span data-testid="free" className="font-medium text-slate-900">
                {chunks}
              </span>
            ),
          })}
        </span>
      </div>
      <div
        className="mt-1 h-2 overflow-hidden rounded-full bg-slate-100"
        role="meter"
        aria-label={t("meterLabel", { label })}
        aria-valuemin={0}
        aria-valuemax={totalValue}
        aria-valuenow={used}
      >
        <div className={`h-full ${tone}`} style={{ width: `${pct}%` }} />
      </div>
    </div>
  );
}

function CapacityPanel({ arch, cap }: { arch: Arch; cap: Capacity }) {
  const t = useTranslations("dashboard");
  const fmt = useDisplayFormat();
  const vcpus = (n: number) => t("vcpuCount", { n });
  return (
    <div className="rounded-lg border border-slate-200 bg-white p-4" data-testid={`capacity-${arch}`}>
      <div className="grid grid-cols-1 gap-4 md:grid-cols-2">
        <Meter
          label={t("vcpus")}
          used={cap.vcpuUsed}
          totalValue={cap.vcpuTotal}
          free={cap.vcpuFree}
          format={vcpus}
          testId="capacity-vcpu"
        />
        <Meter
          label={t("memory")}
          used={cap.memoryUsedMb}
          totalValue={cap.memoryTotalMb}
          free={cap.memoryFreeMb}
          format={fmt.mib}
          testId="capacity-memory"
        />
      </div>
      <p className="mt-3 text-xs text-slate-500">
        {t("capacityNote", { hosts: cap.hosts, cpus: cap.cpus, memory: fmt.mib(cap.memoryMb) })}{" "}
        <span data-testid="schedulable">
          {t("placeable", {
            hosts: cap.schedulable.hosts,
            vcpus: vcpus(cap.schedulable.vcpuFree),
            memory: fmt.mib(cap.schedulable.memoryFreeMb),
          })}
        </span>
      </p>
    </div>
  );
}

export function TaskLine({ task }: { task: TaskEventDto }) {
  const t = useTranslations("dashboard");
  const fmt = useDisplayFormat();
  return (
    <li className="flex flex-wrap items-center gap-x-2 gap-y-1 px-3 py-2 text-sm" data-testid="task-line">
      <StatusBadge status={task.status} />
      <code className="text-xs">{task.kind}</code>
      {task.vm ? (
        <Link href={`/vms/${task.vm.id}`} className="font-medium text-indigo-700 hover:underline">
          {task.vm.name}
        </Link>
      ) : (
        <span className="text-slate-500">{t("deletedVm")}</span>
      )}
      {task.host && <span className="text-xs text-slate-500">{t("onHost", { host: task.host.name })}</span>}
      <span className="ml-auto text-xs text-slate-500" title={task.finishedAt ?? task.createdAt}>
        {fmt.since(task.finishedAt ?? task.createdAt)}
      </span>
      {task.error && (
        <p className="w-full truncate text-xs text-red-700" title={task.error} translate="no">
          {task.error}
        </p>
      )}
    </li>
  );
}

function TaskPanel({
  title,
  href,
  tasks,
  empty,
  testId,
}: {
  title: React.ReactNode;
  href: string;
  tasks: TaskEventDto[];
  empty: string;
  testId: string;
}) {
  const t = useTranslations("dashboard");
  return (
    <div className="rounded-lg border border-slate-200 bg-white" data-testid={testId}>
      <div className="flex items-center justify-between border-b border-slate-100 px-3 py-2">
        <h3 className="text-sm font-semibold">{title}</h3>
        <Link href={href} className="text-xs text-indigo-700 hover:underline">
          {t("all")}
        </Link>
      </div>
      <ul className="divide-y divide-slate-100">
        {tasks.map((task) => (
          <TaskLine key={task.id} task={task} />
        ))}
        {tasks.length === 0 && <li className="px-3 py-4 text-sm text-slate-500">{empty}</li>}
      </ul>
    </div>
  );
}

export function Dashboard() {
  const { data, error, isPending, dataUpdatedAt, isFetching } = useQuery(dashboardQuery);
  const t = useTranslations("dashboard");
  if (isPending) return <p className="text-sm text-slate-500">{t("loading")}</p>;
  if (error && !data)
    return (
      <p role="alert" className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">
        {error.message}
      </p>
    );
  const noHosts = ARCHES.every((a) => total(data.hosts[a]) === 0);
  return (
    <div className="space-y-8">
      <p className="text-xs text-slate-500" aria-live="polite">
        {t("updates", { time: new Date(dataUpdatedAt).toISOString().slice(11, 19) })}
        {isFetching ? ` · ${t("refreshing")}` : ""}
        {error && <span className="ml-2 text-red-700">{t("refreshFailed", { message: error.message })}</span>}
      </p>
      {noHosts && (
        <div className="rounded-lg border border-amber-200 bg-amber-50 p-4 text-sm text-amber-900">
          {t.rich("noHosts", { code: (chunks) => <code>{chunks}</code> })}
        </div>
      )}
      {ARCHES.map((arch) => (
        <section key={arch} aria-labelledby={`h-${arch}`} className="space-y-3">
          <h2 id={`h-${arch}`} className="flex items-center gap-2 text-lg font-semibold">
            <ArchBadge arch={arch} />{" "}
            <span className="text-sm font-normal text-slate-600">{t("capacityInventory")}</span>
          </h2>
          <CapacityPanel arch={arch} cap={data.capacity[arch]} />
          <div className="grid grid-cols-1 gap-4 sm:grid-cols-2 lg:grid-cols-3">
            <Card id="hosts" title={t("hosts")} href="/hosts" arch={arch} counts={data.hosts[arch]} />
            <Card id="vms" title={t("vms")} href="/vms" arch={arch} counts={data.vms[arch]} />
            <Card id="images" title={t("images")} href="/images" arch={arch} counts={data.images[arch]} />
          </div>
        </section>
      ))}
      <section aria-labelledby="h-activity" className="space-y-3">
        <h2 id="h-activity" className="text-lg font-semibold">
          {t("activity")}
        </h2>
        <p className="text-sm text-slate-600">
          <Link href="/events?status=running" className="hover:underline">
            {t.rich("running", {
              n: data.tasks.running,
              c: (chunks) => <span data-testid="tasks-running">{chunks}</span>,
            })}
          </Link>
          {" · "}
          <Link href="/events?status=failed" className="hover:underline">
            {t.rich("failed24h", {
              n: data.tasks.failedLast24h,
              c: (chunks) => <span data-testid="tasks-failed-24h">{chunks}</span>,
            })}
          </Link>
        </p>
        <div className="grid grid-cols-1 gap-4 lg:grid-cols-2">
          <TaskPanel
            title={t("recentTasks")}
            href="/events"
            tasks={data.tasks.recent}
            empty={t("noTasks")}
            testId="recent-tasks"
          />
          <TaskPanel
            title={<span className="text-red-800">{t("failedTasks")}</span>}
            href="/events?status=failed"
            tasks={data.tasks.failed}
            empty={t("noFailedTasks")}
            testId="failed-tasks"
          />
        </div>
      </section>
    </div>
  );
}
