import type { TaskStepDto } from "@/lib/queries/vms";

const ICON: Record<string, string> = { succeeded: "✓", running: "…", failed: "✗", skipped: "–", pending: "○" };
const COLOR: Record<string, string> = { succeeded: "text-green-700", running: "text-indigo-700", failed: "text-red-700", skipped: "text-slate-400", pending: "text-slate-400" };

/** A task's ordered steps, each with its state and message. */
export function TaskSteps({ steps }: { steps: TaskStepDto[] }) {
  return (
    <ol className="mt-2 space-y-1 text-sm" aria-label="Task steps">
      {steps.map((s) => (
        <li key={s.id} data-testid="task-step" data-status={s.status} className={`flex gap-2 ${COLOR[s.status] ?? ""}`}>
          <span aria-hidden="true" className="w-4 text-center">{ICON[s.status] ?? "?"}</span>
          <span className="font-medium">{s.name}</span>
          <span className="sr-only">{s.status}</span>
          {s.message && <span className="text-slate-600">— {s.message}</span>}
        </li>
      ))}
    </ol>
  );
}
