import { useFormatter, useTranslations } from "next-intl";
import { useStatusLabel } from "@/components/badges";
import type { TaskStepDto } from "@/lib/schemas/vms";

const ICON: Record<string, string> = { succeeded: "✓", running: "…", failed: "✗", skipped: "–", pending: "○" };
const COLOR: Record<string, string> = {
  succeeded: "text-green-700",
  running: "text-indigo-700",
  failed: "text-red-700",
  skipped: "text-slate-500",
  pending: "text-slate-500",
};

/** How long a step took, as recorded: each step has its own start and end. */
export function stepDuration(step: Pick<TaskStepDto, "startedAt" | "finishedAt">): string | null {
  if (!step.startedAt || !step.finishedAt) return null;
  const ms = new Date(step.finishedAt).getTime() - new Date(step.startedAt).getTime();
  if (!(ms >= 0)) return null;
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
}

/** A task's ordered steps, each with its state, when it happened, how long it took and its message. */
export function TaskSteps({ steps }: { steps: TaskStepDto[] }) {
  const failed = steps.find((s) => s.status === "failed");
  const t = useTranslations("tasks");
  const status = useStatusLabel();
  const format = useFormatter();
  // The time of day in the reader's locale, 24-hour.
  const clock = (iso: string | null) =>
    iso
      ? format.dateTime(new Date(iso), { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false })
      : null;
  return (
    <>
      {failed && (
        <p className="mt-2 text-sm text-red-700" data-testid="task-failed-step">
          {failed.message
            ? t("failedAtWithMessage", { step: failed.name, message: failed.message })
            : t("failedAt", { step: failed.name })}
        </p>
      )}
      <ol className="mt-2 space-y-1 text-sm" aria-label={t("steps")}>
        {steps.map((s) => {
          const at = clock(s.finishedAt ?? s.startedAt);
          const took = stepDuration(s);
          return (
            <li
              key={s.id}
              data-testid="task-step"
              data-step={s.name}
              data-status={s.status}
              className={`flex flex-wrap gap-x-2 ${COLOR[s.status] ?? ""}`}
            >
              <span aria-hidden="true" className="w-4 text-center">
                {ICON[s.status] ?? "?"}
              </span>
              <span className="font-medium">{s.name}</span>
              <span className="sr-only">{status(s.status)}</span>
              {at && (
                <time className="tabular-nums text-slate-500" dateTime={s.finishedAt ?? s.startedAt ?? undefined}>
                  {at}
                  {took ? ` (${took})` : ""}
                </time>
              )}
              {s.message && <span className="text-slate-600">— {s.message}</span>}
            </li>
          );
        })}
      </ol>
    </>
  );
}
