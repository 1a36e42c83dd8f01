"use client";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { useTranslations } from "next-intl";
import { useState } from "react";
import { ArchBadge, StatusBadge, useStatusLabel } from "@/components/badges";
import { TaskSteps } from "@/components/task-steps";
import { SerialConsole } from "@/components/serial-console";
import { vmEventsQuery, vmKeys, vmQuery, vmTasksQuery } from "@/lib/queries/vms";
import { listKeys } from "@/lib/queries/lists";
import { useDisplayFormat } from "@/components/use-display-format";
import { unwrapAction, type ActionResult } from "@/lib/action-result";
import type { VmDto } from "@/lib/schemas/api";
import type { VmActionName } from "@/lib/schemas/vms";
import { vmDriftCode } from "@/lib/vm-drift";

type VmAct<T> = (input: { id: string }) => Promise<ActionResult<T>>;
/** The VM server actions (app/(console)/vms/actions.ts); the page passes them only to roles with vm:operate. */
export type VmActions = Record<VmActionName, VmAct<VmDto>> & { remove: VmAct<{ id: string; deleted: true }> };

// Which buttons make sense in which state; the server checks again (ALLOWED in lib/server/vms/operate.ts).
// Labels are vmDetail.actions.<action>; `confirm` names the message vmDetail.confirm.<action>.
const ACTIONS: { action: VmActionName; when: string[]; confirm?: boolean; danger?: boolean }[] = [
  { action: "start", when: ["stopped", "unknown"] },
  { action: "stop", when: ["running"], confirm: true },
  { action: "reboot", when: ["running"] },
  { action: "poweroff", when: ["running", "unknown"], confirm: true, danger: true },
  { action: "retry", when: ["error"] },
];

export function VmDetailView({ id, actions }: { id: string; actions?: VmActions }) {
  const router = useRouter();
  const qc = useQueryClient();
  const t = useTranslations("vmDetail");
  const fmt = useDisplayFormat();
  const statusName = useStatusLabel();
  const vm = useQuery(vmQuery(id));
  const tasks = useQuery(vmTasksQuery(id));
  const events = useQuery(vmEventsQuery(id));
  const [error, setError] = useState<string | null>(null);
  const invalidate = () =>
    Promise.all(
      [vmKeys.detail(id), vmKeys.tasks(id), vmKeys.events(id), listKeys.all("vms")].map((queryKey) =>
        qc.invalidateQueries({ queryKey }),
      ),
    );
  // Server actions, so the buttons run the same lib/server/vms code as the JSON API; a failed one throws its message.
  const call = async <T,>(run: (a: VmActions) => Promise<ActionResult<T>>) => {
    if (!actions) throw new Error(t("noRole"));
    return unwrapAction(await run(actions));
  };
  const act = useMutation({
    mutationFn: (action: VmActionName) => call((a) => a[action]({ id })),
    onMutate: () => setError(null),
    onError: (e) => setError(e.message),
    onSettled: invalidate,
  });
  const del = useMutation({
    mutationFn: () => call((a) => a.remove({ id })),
    onError: (e) => setError(e.message),
    onSuccess: async () => {
      await qc.invalidateQueries({ queryKey: listKeys.all("vms") });
      router.push("/vms");
    },
  });

  if (vm.isPending) return <p className="text-sm text-slate-500">{t("loading")}</p>;
  const refreshError = vm.isError ? (
    <p role="alert" data-testid="vm-refresh-error" className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">
      {vm.error.message}
    </p>
  ) : null;
  // A failed refresh (signed out, controller restarting) keeps the VM React Query already has on the
  // page under the error: an open console stays mounted and shows why it closed.
  if (!vm.data) return refreshError;
  const v = vm.data;
  const busy = act.isPending || del.isPending;
  // The API's drift is English (vm-drift.ts); the same pure code gives the console its words.
  const drift = v.drift ? vmDriftCode(v) : null;

  return (
    <div className="space-y-6">
      <div className="flex flex-wrap items-start justify-between gap-4">
        <div>
          <h1 className="flex items-center gap-3 text-2xl font-semibold tracking-tight">
            {v.name} <ArchBadge arch={v.arch} emulated={v.emulated} />
          </h1>
          <p className="mt-1 flex items-center gap-2 text-sm text-slate-600">
            {t("status")}{" "}
            <span data-testid="vm-status">
              <StatusBadge status={v.status} />
            </span>{" "}
            · {t("power", { state: statusName(v.powerState) })}
          </p>
        </div>
        {actions && (
          <div className="flex flex-wrap gap-2" role="group" aria-label={t("vmActions")}>
            {ACTIONS.filter((a) => a.when.includes(v.status)).map((a) => (
              <button
                key={a.action}
                type="button"
                disabled={busy}
                className={
                  "rounded-md px-3 py-1.5 text-sm font-medium ring-1 disabled:opacity-50 " +
                  (a.danger ? "text-red-700 ring-red-300 hover:bg-red-50" : "ring-slate-300 hover:bg-slate-100")
                }
                onClick={() => {
                  if (!a.confirm || confirm(t(`confirm.${a.action}`))) act.mutate(a.action);
                }}
              >
                {t(`actions.${a.action}`)}
                {act.isPending && act.variables === a.action ? "…" : ""}
              </button>
            ))}
            {!["creating", "deleting"].includes(v.status) && (
              <button
                type="button"
                disabled={busy}
                className="rounded-md px-3 py-1.5 text-sm font-medium text-red-700 ring-1 ring-red-300 hover:bg-red-50 disabled:opacity-50"
                onClick={() => {
                  if (confirm(t("confirmDelete", { name: v.name }))) del.mutate();
                }}
              >
                {del.isPending ? t("deleting") : t("delete")}
              </button>
            )}
          </div>
        )}
      </div>

      {refreshError}
      {error && (
        <p role="alert" className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">
          {error}
        </p>
      )}
      {v.lastError && (
        <p data-testid="vm-last-error" className="rounded-md bg-amber-50 px-3 py-2 text-sm text-amber-900">
          {/* the host's or QEMU's own words (ADR 051: server messages stay as they were written) */}
          <strong>{t("lastError")}</strong> <span translate="no">{v.lastError}</span>
        </p>
      )}
      {drift && (
        <p data-testid="vm-drift" className="rounded-md bg-amber-50 px-3 py-2 text-sm text-amber-900">
          <strong>{t("drift")}</strong>{" "}
          {drift.code === "unreported"
            ? t("driftUnreported", { desired: statusName(drift.desired) })
            : drift.code === "notRunning"
              ? t("driftNotRunning", { actual: statusName(drift.actual) })
              : t(drift.code === "deleting" ? "driftDeleting" : "driftNotStopped")}
        </p>
      )}
      {v.migratingToHostId && (
        <p data-testid="vm-migrating" className="rounded-md bg-indigo-50 px-3 py-2 text-sm text-indigo-900">
          {t("migrating")}
        </p>
      )}
      {v.emulated && (
        <p className="rounded-md bg-amber-50 px-3 py-2 text-sm text-amber-900">
          {t("emulatedNote", { arch: v.arch, hostArch: v.host?.arch ?? t("different") })}
        </p>
      )}

      <dl className="grid gap-4 rounded-lg border border-slate-200 bg-white p-4 text-sm sm:grid-cols-3">
        <Item label={t("host")}>
          {v.host ? (
            <span data-testid="vm-host">
              {v.host.name} <ArchBadge arch={v.host.arch} />
            </span>
          ) : (
            t("notPlaced")
          )}
        </Item>
        <Item label={t("image")}>{v.image?.name ?? "—"}</Item>
        <Item label={t("project")}>
          <span data-testid="vm-project">{v.project?.name ?? t("defaultProject")}</span>
        </Item>
        <Item label={t("size")}>
          {t("sizeValue", { vcpus: v.vcpus, memory: fmt.mib(v.memoryMb), disk: v.diskGb })}
          {v.instanceType && <span data-testid="vm-instance-type"> ({v.instanceType.name})</span>}
        </Item>
        <Item label={t("created")}>{fmt.when(v.createdAt)}</Item>
        <Item label={t("updated")}>{fmt.when(v.updatedAt)}</Item>
        <Item label={t("emulationAllowed")}>{v.allowEmulation ? t("yes") : t("no")}</Item>
        <Item label={t("machineCpu")}>
          {v.machineType ?? "—"} / {v.cpuModel ?? t("defaultCpu")}
        </Item>
        <Item label={t("ha")}>{v.ha ? t("on") : t("off")}</Item>
      </dl>

      {v.host && (
        <section>
          <h2 className="mb-2 flex items-center justify-between text-lg font-semibold">
            {t("console")}
            <a
              href={`/vms/${encodeURIComponent(v.id)}/console?tab=graphical`}
              data-testid="vm-open-console"
              className="text-sm font-medium text-sky-700 hover:underline"
            >
              {t("openConsole")}
            </a>
          </h2>
          <SerialConsole vmId={v.id} />
        </section>
      )}

      <section>
        <h2 className="mb-2 text-lg font-semibold">{t("tasks")}</h2>
        <ul className="space-y-3" data-testid="task-history">
          {tasks.data?.items.map((task) => (
            <li key={task.id} className="rounded-lg border border-slate-200 bg-white p-3">
              <div className="flex items-center justify-between text-sm">
                <code>{task.kind}</code>
                <span className="flex items-center gap-2">
                  <StatusBadge status={task.status} />
                  <span className="text-xs text-slate-500">{fmt.when(task.createdAt)}</span>
                </span>
              </div>
              {task.error && <p className="mt-1 text-sm text-red-700">{task.error}</p>}
              <TaskSteps steps={task.steps} />
            </li>
          ))}
          {tasks.data?.items.length === 0 && <li className="text-sm text-slate-500">{t("noTasks")}</li>}
        </ul>
      </section>

      <section>
        <h2 className="mb-2 text-lg font-semibold">{t("events")}</h2>
        <ul
          className="divide-y divide-slate-100 rounded-lg border border-slate-200 bg-white text-sm"
          data-testid="vm-events"
        >
          {events.data?.items.map((e) => (
            <li key={e.id} className="flex flex-wrap items-center gap-3 px-3 py-2">
              <span className="text-xs text-slate-500">{fmt.when(e.createdAt)}</span>
              <code className="text-xs">{e.action}</code>
              <StatusBadge status={e.result} />
              <span className="text-slate-600">{e.userEmail ?? t("system")}</span>
            </li>
          ))}
          {events.data?.items.length === 0 && <li className="px-3 py-3 text-slate-500">{t("noEvents")}</li>}
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
