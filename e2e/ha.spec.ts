import { test, expect, type APIRequestContext } from "@playwright/test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { adminApi, startMixedFleet, waitForAgentsOnline, type Fleet } from "./console-helpers";
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
  waitRunning,
  waitVm,
  type VmView,
} from "./mobility-helpers";
import { SerialShell } from "./serial-shell";

// HA restart after fencing, and reconciliation (issue 14, "Must hold"), on two x86_64 agents (native
// Node). The controller of the e2e run has a short lease (POLYARCH_HA_LEASE_MS, scripts/e2e-server.mjs).
//  1. kill -9 of the HA VM's agent together with its QEMUs (a dead host) → after the lease the VM
//     runs again on the other host; the agent restarted later keeps no copy of it.
//  2. SIGSTOP of the agent now hosting it, past its lease (its watchdog fences the QEMU), then
//     SIGCONT → at every moment at most one QEMU of the VM fleet-wide, in the end exactly one; the
//     stale copy's directory is quarantined (<stateDir>/evicted/<id>-g<n>-…), not deleted.
//  3. Reconciliation: a host "reboot" (its agent and QEMUs killed, the agent restarted) → the
//     VM, desired running, is started again; while it is down the VM page shows the drift.
let fleet: Fleet;
let admin: APIRequestContext;
let restoreHosts: (() => Promise<void>) | null = null;
const PREFIX = "e2e-ha-";
let vmId = "";

test.describe.configure({ mode: "serial" });
test.setTimeout(600_000);

test.beforeAll(async () => {
  test.setTimeout(600_000);
  fleet = await startMixedFleet({ x86_64: 2, aarch64: 0 });
  admin = await adminApi();
  await waitForAgentsOnline(admin, fleet);
  restoreHosts = await onlyFleetHosts(admin, fleet);
  await deleteVmsNamed(admin, PREFIX);
});

test.afterAll(async () => {
  // An agent a failed test left frozen or dead: back, so the VM's delete reaches it.
  for (const a of fleet?.agents ?? []) {
    try {
      fleet.signalAgent(a.machineId, "SIGCONT");
    } catch {
      await fleet.restartAgent(a.machineId).catch(() => {});
    }
  }
  if (admin) await deleteVmsNamed(admin, PREFIX).catch((e) => console.log(`[ha] cleanup: ${String(e)}`));
  await restoreHosts?.().catch(() => {});
  if (admin && fleet) await retireExtraHosts(admin, fleet).catch(() => {});
  await fleet?.stop();
  await admin?.dispose();
});

/** Polls the QEMU processes of the VM fleet-wide until `done`; fails the moment two copies run at once. */
async function neverTwoUntil(done: () => Promise<boolean>, what: string, timeout = 240_000): Promise<number> {
  const until = Date.now() + timeout;
  let most = 0;
  for (;;) {
    const copies = fleet.qemuProcesses(vmId);
    most = Math.max(most, copies.length);
    expect(copies.length, `${what}: two running copies ${JSON.stringify(copies)}`).toBeLessThanOrEqual(1);
    if (await done()) return most;
    if (Date.now() > until) throw new Error(`${what} did not happen within ${timeout / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Quarantined copies of the VM under an agent's state dir. */
const quarantined = (stateDir: string) => {
  const dir = join(stateDir, "evicted");
  return existsSync(dir) ? readdirSync(dir).filter((d) => d.startsWith(`${vmId}-g`)) : [];
};

/** Running on `hostId` as the controller sees it, and the guest's shell answers on its console. */
async function runsOn(hostId: string, tag: string): Promise<VmView> {
  const vm = await waitVm(admin, vmId, (v) => v.host?.id === hostId && v.status === "running", `running on ${hostId}`);
  const shell = await SerialShell.open(admin, vmId);
  try {
    await shell.shellReady(tag, 180_000);
  } finally {
    shell.close();
  }
  return vm;
}

test("kill -9 of an HA VM's agent and QEMUs: after the lease the VM runs on the other host; the agent returns empty", async () => {
  vmId = await createDemoVm(admin, { name: `${PREFIX}vm`, arch: "x86_64" });
  const first = await waitRunning(admin, vmId);
  const patched = await json<VmView>(await admin.patch(`/api/v1/vms/${vmId}`, { data: { ha: true } }), 200);
  expect(patched.ha).toBe(true);
  const dead = agentOf(fleet, first.host!.id);
  const survivor = fleet.agents.find((a) => a !== dead)!;
  expectRunsOnlyOn(fleet, vmId, dead.hostId!);

  const t0 = Date.now();
  const killed = await fleet.killAgent(dead.machineId, { withVms: true });
  expect(killed.vms.length).toBe(1);
  await neverTwoUntil(async () => (await getVm(admin, vmId)).host?.id === survivor.hostId, "HA restart");
  const vm = await runsOn(survivor.hostId!, "k");
  console.log(`[ha] restarted on ${survivor.machineId} ${((Date.now() - t0) / 1000).toFixed(1)} s after kill -9`);
  expect(vm.generation).toBeGreaterThan(first.generation);
  expect(fleet.qemuProcesses(vmId).map((p) => p.machineId)).toEqual([survivor.machineId]);

  // The dead host comes back: it must not start its stale copy; its files go to quarantine.
  await fleet.restartAgent(dead.machineId);
  await expect(() => expectRunsOnlyOn(fleet, vmId, survivor.hostId!)).toPass({ timeout: 90_000 });
  expect(quarantined(dead.stateDir).length).toBe(1);
  expect((await getVm(admin, vmId)).host?.id).toBe(survivor.hostId);
});

test("SIGSTOP of the HA VM's agent past its lease, then SIGCONT: never two running copies", async () => {
  const before = await getVm(admin, vmId);
  const frozen = agentOf(fleet, before.host!.id);
  const other = fleet.agents.find((a) => a !== frozen)!;
  const quarantinedBefore = quarantined(frozen.stateDir).length;
  const t0 = Date.now();
  fleet.signalAgent(frozen.machineId, "SIGSTOP");
  try {
    // The frozen agent's watchdog kills its copy when the lease runs out; only then may the
    // controller start the VM elsewhere.
    await neverTwoUntil(async () => (await getVm(admin, vmId)).host?.id === other.hostId, "HA restart after SIGSTOP");
    await runsOn(other.hostId!, "s");
    // The agent is still frozen: only its watchdog can have killed the copy there.
    expect(fleet.qemuProcesses(vmId).map((p) => p.machineId)).toEqual([other.machineId]);
    console.log(`[ha] restarted on ${other.machineId} ${((Date.now() - t0) / 1000).toFixed(1)} s after SIGSTOP`);
  } finally {
    fleet.signalAgent(frozen.machineId, "SIGCONT");
  }
  // Thawed: its next heartbeat learns the newer generation; the stale copy stays dead, its dir quarantined.
  await neverTwoUntil(
    async () => quarantined(frozen.stateDir).length === quarantinedBefore + 1,
    "stale copy quarantined",
    120_000,
  );
  expectRunsOnlyOn(fleet, vmId, other.hostId!);
  const vm = await getVm(admin, vmId);
  expect(vm.generation).toBeGreaterThan(before.generation);
  expect(vm).toMatchObject({ status: "running", host: { id: other.hostId } });
});

test("reconciliation: after a host reboot (agent and QEMUs killed, agent restarted) the VM runs again; the page shows drift", async ({
  browser,
}) => {
  // HA off: this is the host coming back before anyone restarts the VM elsewhere.
  expect((await json<VmView>(await admin.patch(`/api/v1/vms/${vmId}`, { data: { ha: false } }), 200)).ha).toBe(false);
  const host = agentOf(fleet, (await getVm(admin, vmId)).host!.id);
  const ctx = await browser.newContext({ storageState: storageStateFor("admin") });
  try {
    const page = await ctx.newPage();
    const killed = await fleet.killAgent(host.machineId, { withVms: true });
    expect(killed.vms.length).toBe(1);
    // Down: the controller sees the host silent, the VM's desired and actual state differ.
    const down = await waitVm(admin, vmId, (v) => v.drift !== null, "drift shown", 120_000);
    console.log(`[ha] drift while the host is down: ${down.drift}`);
    await page.goto(`/vms/${vmId}`);
    await expect(page.getByTestId("vm-drift")).toContainText(down.drift!, { timeout: 30_000 });

    await fleet.restartAgent(host.machineId);
    await runsOn(host.hostId!, "r");
    await waitVm(admin, vmId, (v) => v.drift === null && v.powerState === "running", "no drift", 120_000);
    expectRunsOnlyOn(fleet, vmId, host.hostId!);
    await page.reload();
    await expect(page.getByTestId("vm-drift")).toHaveCount(0, { timeout: 30_000 });
  } finally {
    await ctx.close();
  }
});
