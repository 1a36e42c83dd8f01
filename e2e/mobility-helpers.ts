import { expect, type APIRequestContext, type APIResponse } from "@playwright/test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Fleet } from "./console-helpers";
import type { SerialShell } from "./serial-shell";

// What the specs of VMs that move share (migration, maintenance, ha): VMs through the API, their
// tasks, the seeded agentless hosts kept out of placement, and the guest's own evidence that it
// did not reboot (a counter on its serial console, /proc/uptime, a file in its tmpfs).

export type Arch = "x86_64" | "aarch64";
export type VmView = {
  id: string;
  name: string;
  status: string;
  powerState: string;
  desiredState: string;
  lastError: string | null;
  host: { id: string; name: string; arch: Arch } | null;
  generation: number;
  ha: boolean;
  migratingToHostId: string | null;
  drift: string | null;
  machineType: string | null;
};
export type TaskView = {
  id: string;
  kind: string;
  status: "pending" | "running" | "succeeded" | "failed";
  error: string | null;
  progress?: number | null;
  result?: { mode: string; totalMs: number; downtimeMs: number | null; bytes: number } | null;
  steps?: { name: string; status: string; message: string | null }[];
};

export async function json<T>(res: APIResponse, status: number): Promise<T> {
  const text = await res.text();
  expect(res.status(), text).toBe(status);
  return JSON.parse(text) as T;
}

export const getVm = async (api: APIRequestContext, id: string) =>
  json<VmView>(await api.get(`/api/v1/vms/${id}`), 200);

/** A busybox-demo kernel-boot VM (128 MiB — its image's minimum, quick to move —, 1 vCPU, 1 GiB disk; boots in ~20 s under TCG). */
export async function createDemoVm(
  api: APIRequestContext,
  o: { name: string; arch: Arch; ha?: boolean },
): Promise<string> {
  const images = (await (await api.get(`/api/v1/images?arch=${o.arch}&q=busybox-demo`)).json()).items as {
    id: string;
  }[];
  expect(images[0], `no ${o.arch} busybox-demo image registered`).toBeTruthy();
  const body = { name: o.name, arch: o.arch, imageId: images[0]!.id, vcpus: 1, memoryMb: 128, diskGb: 1 };
  const created = await json<{ vm: { id: string } }>(
    await api.post("/api/v1/vms", { data: { ...body, allowEmulation: false, ...(o.ha ? { ha: true } : {}) } }),
    202,
  );
  return created.vm.id;
}

/** Polls the VM until `ok` holds; fails with the VM's last state. */
export async function waitVm(
  api: APIRequestContext,
  id: string,
  ok: (vm: VmView) => boolean,
  what: string,
  timeout = 240_000,
): Promise<VmView> {
  let vm: VmView | null = null;
  await expect
    .poll(
      async () => {
        vm = await getVm(api, id);
        return ok(vm);
      },
      { timeout, message: `${what}; last: ${JSON.stringify(vm)}` },
    )
    .toBe(true);
  return vm!;
}

export const waitRunning = (api: APIRequestContext, id: string, timeout = 240_000) =>
  waitVm(api, id, (vm) => vm.status === "running" || vm.status === "error", "running or error", timeout).then((vm) => {
    expect(vm.status, `${vm.name}: ${vm.lastError}`).toBe("running");
    return vm;
  });

/** The task id of a 202 answer ({task: {id}}). */
export async function taskIdOf(res: APIResponse): Promise<string> {
  const body = await json<{ task?: { id: string }; taskId?: string }>(res, 202);
  const id = body.task?.id ?? body.taskId;
  expect(id, `no task in ${JSON.stringify(body)}`).toBeTruthy();
  return id!;
}

/** Waits for a VM task to end; returns it (with steps, progress and result). */
export async function waitVmTask(api: APIRequestContext, vmId: string, taskId: string, timeout = 300_000) {
  let task: TaskView | undefined;
  await expect
    .poll(
      async () => {
        const items = (await json<{ items: TaskView[] }>(await api.get(`/api/v1/vms/${vmId}/tasks`), 200)).items;
        task = items.find((t) => t.id === taskId);
        return task?.status;
      },
      { timeout, message: `task ${taskId} of VM ${vmId} ended; last: ${JSON.stringify(task)}` },
    )
    .toMatch(/^(succeeded|failed)$/);
  return task!;
}

/** Waits for a host task (host.evacuate) to end: GET /api/v1/hosts/:id/tasks. */
export async function waitHostTask(api: APIRequestContext, hostId: string, taskId: string, timeout = 600_000) {
  let task: TaskView | undefined;
  await expect
    .poll(
      async () => {
        const items = (await json<{ items: TaskView[] }>(await api.get(`/api/v1/hosts/${hostId}/tasks`), 200)).items;
        task = items.find((t) => t.id === taskId);
        return task?.status;
      },
      { timeout, message: `task ${taskId} of host ${hostId} ended; last: ${JSON.stringify(task)}` },
    )
    .toMatch(/^(succeeded|failed)$/);
  return task!;
}

/** Deletes VMs whose name starts with `prefix` (also a crashed earlier run's) and waits until they are gone. */
export async function deleteVmsNamed(api: APIRequestContext, prefix: string): Promise<void> {
  const vms = ((await (await api.get(`/api/v1/vms?pageSize=200&q=${prefix}`)).json()).items as VmView[]).filter((v) =>
    v.name.startsWith(prefix),
  );
  for (const vm of vms) await api.delete(`/api/v1/vms/${vm.id}`);
  for (const vm of vms)
    await expect
      .poll(async () => (await api.get(`/api/v1/vms/${vm.id}`)).status(), { timeout: 120_000 })
      .toBe(404)
      .catch(() => console.log(`[mobility] VM ${vm.name} not deleted within 120 s`));
}

/**
 * Only the fleet's hosts in play: the seeded hosts have no agent, and hosts of earlier specs' extra
 * agents (local-*-2, offline now) must not be migration targets either. Returns the undo.
 */
export async function onlyFleetHosts(api: APIRequestContext, fleet: Fleet): Promise<() => Promise<void>> {
  const mine = new Set(fleet.agents.map((a) => a.hostId));
  const hosts = (await (await api.get("/api/v1/hosts?pageSize=200")).json()).items as {
    id: string;
    adminState: string;
  }[];
  const disabled: string[] = [];
  for (const h of hosts.filter((x) => !mine.has(x.id) && x.adminState === "enabled")) {
    await json(await api.patch(`/api/v1/hosts/${h.id}`, { data: { adminState: "disabled" } }), 200);
    disabled.push(h.id);
  }
  // A host of this fleet left in maintenance or disabled by a crashed earlier run.
  for (const h of hosts.filter((x) => mine.has(x.id) && x.adminState !== "enabled"))
    await api.patch(`/api/v1/hosts/${h.id}`, { data: { adminState: "enabled" } });
  return async () => {
    for (const id of disabled) await api.patch(`/api/v1/hosts/${id}`, { data: { adminState: "enabled" } });
  };
}

/**
 * After the spec: the hosts of the extra agents (local-<arch>-2 …) are disabled, so the next spec
 * never places a VM on one of them in the seconds before the controller sees it offline.
 */
export async function retireExtraHosts(api: APIRequestContext, fleet: Fleet): Promise<void> {
  for (const a of fleet.agents.filter((x) => x.index > 1 && x.hostId))
    await api.patch(`/api/v1/hosts/${a.hostId}`, { data: { adminState: "disabled" } });
}

/** The fleet agent behind a host id. */
export function agentOf(fleet: Fleet, hostId: string) {
  const a = fleet.agents.find((x) => x.hostId === hostId);
  expect(a, `host ${hostId} is not an agent of this fleet`).toBeTruthy();
  return a!;
}

/**
 * Where the VM's QEMU runs: exactly one process fleet-wide, under `hostId`'s agent, matching its
 * pid file there; and the other agents keep no directory of the VM.
 */
export function expectRunsOnlyOn(fleet: Fleet, vmId: string, hostId: string): number {
  const agent = agentOf(fleet, hostId);
  const procs = fleet.qemuProcesses(vmId);
  expect(
    procs.map((p) => p.machineId),
    `QEMU processes of ${vmId}`,
  ).toEqual([agent.machineId]);
  const pidFile = join(agent.stateDir, "vms", vmId, "qemu.pid");
  expect(Number(readFileSync(pidFile, "utf8").trim()), pidFile).toBe(procs[0]!.pid);
  for (const other of fleet.agents.filter((a) => a.hostId !== hostId))
    expect(existsSync(join(other.stateDir, "vms", vmId)), `${other.machineId} still has ${vmId}`).toBe(false);
  return procs[0]!.pid;
}

// ---- the guest's evidence -------------------------------------------------------------------------
/** Starts a counter on the guest's console (one COUNT-<tag>-<n> line a second) and leaves a mark in its tmpfs. */
export async function startGuestCounter(shell: SerialShell, tag: string): Promise<void> {
  // Short lines, like every other command sent to a guest here; `{ … & }` because run() appends `; echo …`.
  const mark = await shell.run(`echo alive-${tag} >/tmp/mobility-mark`, `${tag}M`);
  expect(mark.rc, mark.out).toBe(0);
  const r = await shell.run(`{ (n=0;while :;do n=$((n+1));echo COUNT-${tag}-$n;sleep 1;done)& }`, `${tag}C`);
  expect(r.rc, r.out).toBe(0);
}

/** The newest counter value the console showed since `from`, or 0. */
export function lastCount(shell: SerialShell, tag: string, from = 0): number {
  const all = [...shell.text.slice(from).matchAll(new RegExp(`COUNT-${tag}-(\\d+)`, "g"))];
  return all.length ? Number(all[all.length - 1]![1]) : 0;
}

/** Seconds since the guest booted (/proc/uptime), printed as UP=<s> so the command's echo cannot match. */
export async function guestUptime(shell: SerialShell, tag: string): Promise<number> {
  const r = await shell.run(`echo "UP=$(cut -d' ' -f1 /proc/uptime)"`, tag);
  const m = /UP=([\d.]+)/.exec(r.out);
  expect(m, r.out).toBeTruthy();
  return Number(m![1]);
}

/** The mark startGuestCounter left: gone after a reboot (tmpfs). */
export async function guestMark(shell: SerialShell, tag: string): Promise<string> {
  const r = await shell.run(`echo "MARK=$(cat /tmp/mobility-mark 2>/dev/null || echo none)"`, tag);
  return /MARK=([a-z0-9_-]+)/.exec(r.out)?.[1] ?? ""; // not the command's own echo, MARK=$(cat …
}
