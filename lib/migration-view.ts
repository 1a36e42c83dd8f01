// What the console shows about VMs that move (issue 14), as pure functions so they are unit-tested
// without a browser: the order of the preview's hosts, a migration task's progress, an evacuation's
// per-VM outcome.
import type { MigrationHostVerdict } from "./schemas/migration";
import type { TaskStepDto, VmTaskDto } from "./schemas/vms";

export const MIGRATE_TASK_KIND = "vm.migrate";
export const EVACUATE_TASK_KIND = "host.evacuate";

const ACTIVE = new Set(["pending", "running"]);

/** Targets first (the scheduler's pick on top), then refused hosts by name, the VM's own host last. */
export function orderVerdicts(hosts: MigrationHostVerdict[], recommendedHostId: string | null): MigrationHostVerdict[] {
  const rank = (h: MigrationHostVerdict) => (h.current ? 3 : h.id === recommendedHostId ? 0 : h.ok ? 1 : 2);
  return [...hosts].sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name));
}

/** 850 ms, 4.2 s, 73 s */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
}

export interface TaskProgress {
  active: boolean;
  /** 0-100; a finished task that succeeded is 100 even if the last write was lower */
  percent: number;
  /** the running step, else the last one reached */
  step: string | null;
  stepMessage: string | null;
}

/** Where a long task is: percent from Task.progress, else from the share of steps done. */
export function taskProgress(task: Pick<VmTaskDto, "status" | "progress" | "steps">): TaskProgress {
  const active = ACTIVE.has(task.status);
  const done = task.steps.filter((s) => s.status === "succeeded" || s.status === "skipped").length;
  const byStep = task.steps.length ? Math.round((done / task.steps.length) * 100) : 0;
  const percent = task.status === "succeeded" ? 100 : Math.min(100, Math.max(0, task.progress ?? byStep));
  const current: TaskStepDto | undefined =
    task.steps.find((s) => s.status === "running") ??
    task.steps.find((s) => s.status === "failed") ??
    [...task.steps].reverse().find((s) => s.status === "succeeded");
  return { active, percent, step: current?.name ?? null, stepMessage: current?.message ?? null };
}

/** The newest task of a kind (lists come newest first; sorted again so the order is not assumed). */
export function latestTask(tasks: VmTaskDto[] | undefined, kind: string): VmTaskDto | null {
  const ofKind = (tasks ?? []).filter((t) => t.kind === kind);
  ofKind.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  return ofKind[0] ?? null;
}

/** What a finished migration measured, in one line (null while it runs or when it failed). */
export function migrationOutcome(task: Pick<VmTaskDto, "status" | "result">): string | null {
  if (task.status !== "succeeded" || !task.result) return null;
  const r = task.result;
  const downtime = r.downtimeMs === null ? "" : `, downtime ${formatMs(r.downtimeMs)}`;
  return `${r.mode === "live" ? "Live" : "Cold"} migration took ${formatMs(r.totalMs)}${downtime}`;
}

export interface EvacuationSummary {
  active: boolean;
  total: number;
  moved: number;
  stayed: number;
  /** one row per VM: the step name is the VM's name, its message the outcome or the reason it stayed */
  vms: { name: string; status: TaskStepDto["status"]; message: string | null }[];
}

export function evacuationSummary(task: VmTaskDto): EvacuationSummary {
  const vms = task.steps.map((s) => ({ name: s.name, status: s.status, message: s.message }));
  return {
    active: ACTIVE.has(task.status),
    total: vms.length,
    moved: vms.filter((v) => v.status === "succeeded").length,
    stayed: vms.filter((v) => v.status === "failed" || v.status === "skipped").length,
    vms,
  };
}
