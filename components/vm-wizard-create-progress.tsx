"use client";
// The VM-create wizard's last view (vm-wizard.tsx): after submit, the vm.create task's steps live until the VM
// runs, then on to the VM's page. Loaded from the review step on, not with the page (first-load JS, issue 16).
import { useQuery } from "@tanstack/react-query";
import { useTranslations } from "next-intl";
import { useEffect } from "react";
import { TaskSteps } from "@/components/task-steps";
import { vmTasksQuery } from "@/lib/queries/vms";

export function CreateProgress({ vmId, host, onDone }: { vmId: string; host: string; onDone: () => void }) {
  const tasks = useQuery(vmTasksQuery(vmId));
  const t = useTranslations("wizard");
  const task = tasks.data?.items.find((it) => it.kind === "vm.create");
  useEffect(() => {
    if (task?.status === "succeeded") {
      const timer = setTimeout(onDone, 800);
      return () => clearTimeout(timer);
    }
  }, [task?.status, onDone]);
  return (
    <div className="max-w-xl rounded-lg border border-slate-200 bg-white p-4" data-testid="create-progress">
      <h2 className="font-semibold">{t("creatingOn", { host })}</h2>
      {task ? <TaskSteps steps={task.steps} /> : <p className="text-sm text-slate-500">{t("waitingTask")}</p>}
      {task?.status === "failed" && (
        <div className="mt-3 text-sm">
          <p role="alert" className="text-red-700">
            {task.error}
          </p>
          <button type="button" onClick={onDone} className="mt-2 rounded-md px-3 py-1.5 ring-1 ring-slate-300">
            {t("openToRetry")}
          </button>
        </div>
      )}
    </div>
  );
}
