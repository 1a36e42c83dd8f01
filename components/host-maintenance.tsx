"use client";
// Maintenance of one host (issue 14): enter it with or without evacuation (POST
// /api/v1/hosts/:id/maintenance {evacuate}), exit it (DELETE), and the evacuation's progress: one
// row per VM with its outcome or the reason it stayed (the host.evacuate task's steps, from GET
// /api/v1/hosts/:id/tasks). host:manage only; the server checks again.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTranslations } from "next-intl";
import { useState } from "react";
import { StatusBadge, useStatusLabel } from "@/components/badges";
import { EVACUATE_TASK_KIND, evacuationSummary, latestTask, taskProgress } from "@/lib/migration-view";
import { hostTasksQuery, mobilityKeys } from "@/lib/queries/mobility";
import { writeJson } from "@/lib/queries/volumes";
import { listKeys } from "@/lib/queries/lists";
import type { VmTaskDto } from "@/lib/schemas/vms";

const BUTTON =
  "rounded-md px-3 py-1.5 text-sm font-medium ring-1 ring-slate-300 hover:bg-slate-100 disabled:opacity-50";
const ICON: Record<string, string> = { succeeded: "✓", running: "…", failed: "✗", skipped: "–", pending: "○" };
const COLOR: Record<string, string> = {
  succeeded: "text-green-700",
  running: "text-indigo-700",
  failed: "text-red-700",
  skipped: "text-slate-500",
  pending: "text-slate-500",
};

export function HostMaintenance({ hostId, adminState }: { hostId: string; adminState: string }) {
  const qc = useQueryClient();
  const t = useTranslations("hostMaintenance");
  const tasks = useQuery(hostTasksQuery(hostId));
  const [open, setOpen] = useState(false);
  const [evacuate, setEvacuate] = useState(true);
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const url = `/api/v1/hosts/${encodeURIComponent(hostId)}/maintenance`;
  const refresh = () =>
    Promise.all(
      [["hosts"], mobilityKeys.hostTasks(hostId), listKeys.all("hosts"), listKeys.all("vms")].map((queryKey) =>
        qc.invalidateQueries({ queryKey }),
      ),
    );
  const enter = useMutation({
    mutationFn: (body: { evacuate: boolean }) => writeJson<{ task?: { id: string } }>("POST", url, body),
    onMutate: () => setMessage(null),
    onSuccess: (_res, body) => {
      setOpen(false);
      setMessage({
        ok: true,
        text: body.evacuate ? t("enteredEvacuating") : t("enteredStaying"),
      });
    },
    onError: (e: Error) => setMessage({ ok: false, text: e.message }),
    onSettled: refresh,
  });
  const exit = useMutation({
    mutationFn: () => writeJson("DELETE", url),
    onMutate: () => setMessage(null),
    onSuccess: () => setMessage({ ok: true, text: t("exited") }),
    onError: (e: Error) => setMessage({ ok: false, text: e.message }),
    onSettled: refresh,
  });

  const task = latestTask(tasks.data?.items, EVACUATE_TASK_KIND);
  const evacuating = task !== null && taskProgress(task).active;
  const busy = enter.isPending || exit.isPending;

  return (
    <section
      data-testid="host-maintenance"
      aria-label={t("title")}
      className="rounded-lg border border-slate-200 bg-white p-4"
    >
      <div className="flex flex-wrap items-center justify-between gap-2">
        <h2 className="flex items-center gap-2 font-semibold">
          {t("title")}
          <span data-testid="host-admin-state">
            <StatusBadge status={adminState} />
          </span>
        </h2>
        {adminState === "maintenance" ? (
          <span className="flex flex-wrap gap-2">
            <button
              type="button"
              data-testid="host-maintenance-evacuate-again"
              className={BUTTON}
              disabled={busy || evacuating}
              onClick={() => enter.mutate({ evacuate: true })}
            >
              {t("evacuateAgain")}
            </button>
            <button
              type="button"
              data-testid="host-maintenance-exit"
              className={BUTTON}
              disabled={busy}
              onClick={() => exit.mutate()}
            >
              {exit.isPending ? t("leaving") : t("exit")}
            </button>
          </span>
        ) : (
          <button
            type="button"
            data-testid="host-maintenance-button"
            className={BUTTON}
            disabled={busy}
            aria-expanded={open}
            onClick={() => setOpen(!open)}
          >
            {t("enterOpen")}
          </button>
        )}
      </div>
      {open && adminState !== "maintenance" && (
        <form
          className="mt-3 space-y-2 text-sm"
          aria-label={t("enter")}
          onSubmit={(e) => {
            e.preventDefault();
            enter.mutate({ evacuate });
          }}
        >
          <p className="text-slate-600">{t("intro")}</p>
          <label className="flex items-start gap-2">
            <input
              type="checkbox"
              className="mt-1"
              data-testid="host-maintenance-evacuate"
              checked={evacuate}
              onChange={(e) => setEvacuate(e.target.checked)}
            />
            <span>{t("evacuateHint")}</span>
          </label>
          <span className="flex gap-2">
            <button type="submit" data-testid="host-maintenance-confirm" className={BUTTON} disabled={busy}>
              {enter.isPending ? t("entering") : evacuate ? t("enterEvacuate") : t("enter")}
            </button>
            <button type="button" className={BUTTON} disabled={busy} onClick={() => setOpen(false)}>
              {t("cancel")}
            </button>
          </span>
        </form>
      )}
      {message && (
        <p
          role={message.ok ? "status" : "alert"}
          className={`mt-2 rounded-md px-3 py-2 text-sm ${message.ok ? "bg-green-50 text-green-800" : "bg-red-50 text-red-700"}`}
        >
          {message.text}
        </p>
      )}
      {tasks.isError && (
        <p role="alert" className="mt-2 text-sm text-red-700">
          {tasks.error.message}
        </p>
      )}
      {task && <EvacuationProgress task={task} />}
    </section>
  );
}

function EvacuationProgress({ task }: { task: VmTaskDto }) {
  const s = evacuationSummary(task);
  const percent = task.progress ?? (s.total ? Math.round(((s.moved + s.stayed) / s.total) * 100) : 100);
  const t = useTranslations("hostMaintenance");
  const statusName = useStatusLabel();
  return (
    <div data-testid="evacuation-progress" data-status={task.status} className="mt-3 text-sm">
      <p className="flex flex-wrap items-center gap-2">
        {t("evacuation")} <StatusBadge status={task.status} />
        <span className="text-slate-600">
          {s.total === 0
            ? t("noVms")
            : t(s.stayed ? "movedStayed" : "moved", { moved: s.moved, total: s.total, stayed: s.stayed })}
        </span>
      </p>
      {s.active && (
        <div
          role="progressbar"
          aria-label={t("progress")}
          aria-valuemin={0}
          aria-valuemax={100}
          aria-valuenow={percent}
          className="mt-2 h-2 overflow-hidden rounded bg-slate-200"
        >
          <div className="h-full bg-indigo-600" style={{ width: `${Math.min(100, Math.max(0, percent))}%` }} />
        </div>
      )}
      {task.error && <p className="mt-1 text-red-700">{task.error}</p>}
      <ul className="mt-2 space-y-1" aria-label={t("vms")}>
        {s.vms.map((v, i) => (
          <li
            key={`${i}-${v.name}`}
            data-testid={`evacuation-vm-${v.name}`}
            data-status={v.status}
            className={`flex flex-wrap gap-x-2 ${COLOR[v.status] ?? ""}`}
          >
            <span aria-hidden="true" className="w-4 text-center">
              {ICON[v.status] ?? "?"}
            </span>
            <span className="font-medium">{v.name}</span>
            <span className="sr-only">{statusName(v.status)}</span>
            {v.message && <span className="text-slate-600">— {v.message}</span>}
          </li>
        ))}
      </ul>
    </div>
  );
}
