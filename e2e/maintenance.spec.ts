import { test, expect, type APIRequestContext } from "@playwright/test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { adminApi, startMixedFleet, waitForAgentsOnline, type Fleet, type FleetAgent } from "./console-helpers";
import { storageStateFor } from "./helpers";
import {
  agentOf,
  createDemoVm,
  deleteVmsNamed,
  expectRunsOnlyOn,
  getVm,
  json,
  onlyFleetHosts,
  retireExtraHosts,
  taskIdOf,
  waitHostTask,
  waitRunning,
} from "./mobility-helpers";
import { SerialShell } from "./serial-shell";

// Maintenance that evacuates (issue 14, "Must hold"): two x86_64 agents (native Node: the cheapest
// pair on two cores). Three small running kernel-boot guests are placed on the first host (the
// second one disabled meanwhile); POST /api/v1/hosts/:id/maintenance {evacuate: true} runs a
// host.evacuate task that live-migrates them one by one. It ends succeeded with one step per VM,
// the host has no VM left (API, QEMU processes, its state dir), all three run on the other host
// (their shells answer there), and the host page shows the evacuation's outcome per VM.
let fleet: Fleet;
let admin: APIRequestContext;
let restoreHosts: (() => Promise<void>) | null = null;
let drained: FleetAgent;
let other: FleetAgent;
const PREFIX = "e2e-maint-";
const vmIds: string[] = [];

test.describe.configure({ mode: "serial" });
test.setTimeout(900_000);

test.beforeAll(async () => {
  test.setTimeout(600_000);
  fleet = await startMixedFleet({ x86_64: 2, aarch64: 0 });
  admin = await adminApi();
  await waitForAgentsOnline(admin, fleet);
  restoreHosts = await onlyFleetHosts(admin, fleet);
  await deleteVmsNamed(admin, PREFIX);
  [drained, other] = [fleet.agents[0]!, fleet.agents[1]!];
});

test.afterAll(async () => {
  if (admin) {
    if (drained?.hostId) await admin.delete(`/api/v1/hosts/${drained.hostId}/maintenance`).catch(() => {});
    if (drained?.hostId) await admin.patch(`/api/v1/hosts/${drained.hostId}`, { data: { adminState: "enabled" } });
    await deleteVmsNamed(admin, PREFIX).catch((e) => console.log(`[maintenance] cleanup: ${String(e)}`));
  }
  await restoreHosts?.().catch(() => {});
  if (admin && fleet) await retireExtraHosts(admin, fleet).catch(() => {});
  await fleet?.stop();
  await admin?.dispose();
});

test("maintenance with evacuation moves a host's three running VMs away and leaves it empty", async ({ browser }) => {
  const t0 = Date.now();
  const s = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
  // All three on `drained`: the other host takes nothing new while they are placed.
  await json(await admin.patch(`/api/v1/hosts/${other.hostId}`, { data: { adminState: "disabled" } }), 200);
  try {
    for (const n of [1, 2, 3]) vmIds.push(await createDemoVm(admin, { name: `${PREFIX}${n}`, arch: "x86_64" }));
    for (const id of vmIds) expect((await waitRunning(admin, id)).host?.id).toBe(drained.hostId);
  } finally {
    await json(await admin.patch(`/api/v1/hosts/${other.hostId}`, { data: { adminState: "enabled" } }), 200);
  }
  for (const id of vmIds) expectRunsOnlyOn(fleet, id, drained.hostId!);
  // Booted guests, as a host put into maintenance has: each shell answers before the move. (A guest moved
  // ~2 s after its start, still in early boot under TCG, was once silent on the target; not explained yet.)
  for (const [i, id] of vmIds.entries()) {
    const shell = await SerialShell.open(admin, id);
    try {
      await shell.shellReady(`b${i + 1}`, 180_000);
    } finally {
      shell.close();
    }
  }
  console.log(`[maintenance] three VMs running on ${drained.machineId}, shells answering, after ${s()}`);

  const taskId = await taskIdOf(
    await admin.post(`/api/v1/hosts/${drained.hostId}/maintenance`, { data: { evacuate: true } }),
  );
  const host = await json<{ status: string; adminState: string }>(
    await admin.get(`/api/v1/hosts/${drained.hostId}`),
    200,
  );
  expect(host.adminState).toBe("maintenance");

  const task = await waitHostTask(admin, drained.hostId!, taskId, 720_000);
  console.log(`[maintenance] evacuation ${task.status} after ${s()}: ${JSON.stringify(task.steps)}`);
  expect(task.status, `evacuation: ${task.error}; steps ${JSON.stringify(task.steps)}`).toBe("succeeded");
  expect(task.kind).toBe("host.evacuate");
  expect(task.steps?.map((x) => x.status)).toEqual(["succeeded", "succeeded", "succeeded"]);

  // The host page shows the evacuation's outcome per VM (components/host-maintenance.tsx).
  const ctx = await browser.newContext({ storageState: storageStateFor("admin") });
  try {
    const page = await ctx.newPage();
    await page.goto(`/hosts/${drained.hostId}`);
    await expect(page.getByTestId("evacuation-progress")).toHaveAttribute("data-status", "succeeded", {
      timeout: 30_000,
    });
    for (const n of [1, 2, 3]) await expect(page.getByTestId(`evacuation-vm-${PREFIX}${n}`)).toBeVisible();
  } finally {
    await ctx.close();
  }

  // Nothing left on the drained host: API, processes, files. All three run on the other one.
  const hostAfter = await json<{ vmCount?: number; adminState: string }>(
    await admin.get(`/api/v1/hosts/${drained.hostId}`),
    200,
  );
  expect(hostAfter.adminState).toBe("maintenance");
  if (hostAfter.vmCount !== undefined) expect(hostAfter.vmCount).toBe(0);
  for (const id of vmIds) {
    const vm = await getVm(admin, id);
    expect(vm, vm.name).toMatchObject({ status: "running", host: { id: other.hostId }, migratingToHostId: null });
    await expect(() => expectRunsOnlyOn(fleet, id, other.hostId!)).toPass({ timeout: 30_000 });
    expect(existsSync(join(agentOf(fleet, drained.hostId!).stateDir, "vms", id))).toBe(false);
  }
  // And the moved guests really run there: each one's shell answers on its serial console.
  for (const [i, id] of vmIds.entries()) {
    const shell = await SerialShell.open(admin, id);
    try {
      await shell.shellReady(`m${i + 1}`, 180_000);
    } finally {
      shell.close();
    }
  }
  console.log(`[maintenance] the three moved guests answer on ${other.machineId} after ${s()}`);
});
