import { describe, expect, it } from "vitest";
import type { MigrationHostVerdict } from "./schemas/migration";
import type { VmTaskDto } from "./schemas/vms";
import {
  evacuationSummary,
  formatMs,
  latestTask,
  migrationOutcome,
  orderVerdicts,
  taskProgress,
} from "./migration-view";

const host = (name: string, over: Partial<MigrationHostVerdict> = {}): MigrationHostVerdict => ({
  id: `h-${name}`,
  name,
  arch: "x86_64",
  status: "online",
  ok: true,
  current: false,
  mode: "native",
  reasons: [],
  warnings: [],
  ...over,
});

const step = (name: string, status: VmTaskDto["steps"][number]["status"], message: string | null = null) => ({
  id: `s-${name}`,
  position: 0,
  name,
  status,
  message,
  startedAt: null,
  finishedAt: null,
});

const task = (over: Partial<VmTaskDto>): VmTaskDto => ({
  id: "t1",
  kind: "vm.migrate",
  status: "running",
  vmId: "vm1",
  hostId: null,
  userId: null,
  error: null,
  createdAt: "2026-12-06T05:00:00.000Z",
  startedAt: null,
  finishedAt: null,
  progress: null,
  result: null,
  steps: [],
  ...over,
});

describe("orderVerdicts", () => {
  it("puts the recommended host first, other targets next, refused hosts by name, the current host last", () => {
    const hosts = [
      host("current", { ok: false, current: true, reasons: ["the VM runs here"] }),
      host("zeta-refused", { ok: false, reasons: ["arch"] }),
      host("beta"),
      host("alpha-refused", { ok: false, reasons: ["full"] }),
      host("gamma"),
    ];
    expect(orderVerdicts(hosts, "h-gamma").map((h) => h.name)).toEqual([
      "gamma",
      "beta",
      "alpha-refused",
      "zeta-refused",
      "current",
    ]);
    // no recommendation: targets by name; the input is not reordered in place
    expect(orderVerdicts(hosts, null).map((h) => h.name)).toEqual([
      "beta",
      "gamma",
      "alpha-refused",
      "zeta-refused",
      "current",
    ]);
    expect(hosts[0]!.name).toBe("current");
  });
});

describe("taskProgress", () => {
  it("uses Task.progress while running and names the running step", () => {
    const p = taskProgress(
      task({
        progress: 42,
        steps: [step("check", "succeeded"), step("memory", "running", "120 MiB left"), step("switch over", "pending")],
      }),
    );
    expect(p).toEqual({ active: true, percent: 42, step: "memory", stepMessage: "120 MiB left" });
  });

  it("falls back to the share of finished steps, clamps, and reports 100 for a success", () => {
    expect(
      taskProgress(
        task({ steps: [step("a", "succeeded"), step("b", "running"), step("c", "pending"), step("d", "pending")] }),
      ).percent,
    ).toBe(25);
    expect(taskProgress(task({ progress: 140 })).percent).toBe(100);
    expect(
      taskProgress(task({ status: "succeeded", progress: 97, steps: [step("clean up source", "succeeded")] })),
    ).toEqual({
      active: false,
      percent: 100,
      step: "clean up source",
      stepMessage: null,
    });
  });

  it("shows the failed step of a failed task", () => {
    const p = taskProgress(
      task({
        status: "failed",
        progress: 60,
        steps: [step("copy disks", "succeeded"), step("memory", "failed", "cancelled"), step("switch over", "skipped")],
      }),
    );
    expect(p).toMatchObject({ active: false, percent: 60, step: "memory", stepMessage: "cancelled" });
  });
});

describe("latestTask and migrationOutcome", () => {
  it("picks the newest task of the kind whatever the list order", () => {
    const old = task({ id: "old", createdAt: "2026-12-06T04:00:00.000Z" });
    const other = task({ id: "start", kind: "vm.start", createdAt: "2026-12-06T06:00:00.000Z" });
    const recent = task({ id: "new", createdAt: "2026-12-06T05:30:00.000Z" });
    expect(latestTask([old, other, recent], "vm.migrate")?.id).toBe("new");
    expect(latestTask([other], "vm.migrate")).toBeNull();
    expect(latestTask(undefined, "vm.migrate")).toBeNull();
  });

  it("says how long it took and the downtime once it succeeded", () => {
    const result = { mode: "live" as const, fromHostId: "a", toHostId: "b", totalMs: 12_345, downtimeMs: 85, bytes: 1 };
    expect(migrationOutcome(task({ status: "succeeded", result }))).toBe("Live migration took 12 s, downtime 85 ms");
    expect(
      migrationOutcome(
        task({ status: "succeeded", result: { ...result, mode: "cold", totalMs: 4_200, downtimeMs: null } }),
      ),
    ).toBe("Cold migration took 4.2 s");
    expect(migrationOutcome(task({ status: "running", result }))).toBeNull();
    expect(migrationOutcome(task({ status: "succeeded", result: null }))).toBeNull();
  });

  it("formats durations", () => {
    expect([formatMs(0), formatMs(999), formatMs(1_000), formatMs(9_949), formatMs(73_400)]).toEqual([
      "0 ms",
      "999 ms",
      "1.0 s",
      "9.9 s",
      "73 s",
    ]);
  });
});

describe("evacuationSummary", () => {
  it("counts VMs moved and VMs that stayed, one row per VM with its outcome or reason", () => {
    const t = task({
      kind: "host.evacuate",
      vmId: null,
      hostId: "h1",
      steps: [
        step("web-1", "succeeded", "live-migrated to x86-b"),
        step("db-1", "failed", "no host can take it: x86-b: not enough memory"),
        step("batch-1", "running"),
        step("idle-1", "pending"),
      ],
    });
    const s = evacuationSummary(t);
    expect(s).toMatchObject({ active: true, total: 4, moved: 1, stayed: 1 });
    expect(s.vms[1]).toEqual({
      name: "db-1",
      status: "failed",
      message: "no host can take it: x86-b: not enough memory",
    });
  });
});
