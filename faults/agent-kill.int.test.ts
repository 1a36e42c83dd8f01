// An agent that dies (SIGKILL: a crashed agent daemon whose QEMUs live on, or with its QEMUs a dead
// host) or freezes (SIGSTOP) in the middle of a VM create or delete (issue 15). Afterwards every
// task ended with a message; a failed create is placed nowhere and whatever the agent started
// anyway is removed once the agent is back (its heartbeat evicts the stale copy: failProvisioning
// bumps the generation); a failed delete can be repeated and then succeeds; the host is offline
// while its agent is frozen and online again after; allocations equal what is placed.
import fs from "node:fs";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { db } from "../lib/server/platform";
import { fleetQemus, missingBuild, startRig, type Rig } from "../lib/server/testing/fault-rig";

/** Short, so a frozen agent's host goes offline quickly (the rig's agents beat every 2 s). */
const HEARTBEAT_TIMEOUT_MS = 6_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type VmView = {
  id: string;
  status: string;
  powerState: string;
  host: { id: string } | null;
  lastError: string | null;
  generation: number;
};

let rig: Rig | undefined;
/** a NIC on this network puts a tap and an OVS port in each VM, to be cleaned up with it */
let networkId: string | undefined;
/** agents this test froze or killed: afterEach brings them back, so one failure does not cascade */
const touched = new Map<string, "stopped" | "killed">();

const r = () => rig!;
const vmView = (id: string) => r().api.expect<VmView>(200, "GET", `/api/v1/vms/${id}`);
const hostStatus = async (hostId: string) =>
  (await r().api.expect<{ status: string }>(200, "GET", `/api/v1/hosts/${hostId}`)).status;
const machineOf = (hostId: string) => r().fleet.agents.find((a) => a.hostId === hostId)!.machineId;
const hostOf = (machineId: string) => r().fleet.agents.find((a) => a.machineId === machineId)!.hostId!;

function freeze(machineId: string) {
  touched.set(machineId, "stopped");
  r().fleet.signalAgent(machineId, "SIGSTOP");
}
function thaw(machineId: string) {
  r().fleet.signalAgent(machineId, "SIGCONT");
  touched.delete(machineId);
}
async function kill(machineId: string, withVms: boolean) {
  touched.set(machineId, "killed");
  await r().fleet.killAgent(machineId, { withVms });
}
async function restart(machineId: string) {
  await r().fleet.restartAgent(machineId);
  touched.delete(machineId);
  await untilHost(hostOf(machineId), "online");
}
const qemusOf = (vmId: string) => fleetQemus(r().fleet).filter((q) => q.vmId === vmId);

/** An evicted copy's files are kept, never deleted (ADR 036): <stateDir>/evicted/<id>-g<generation>-<time>/. */
const stateDirOf = (machineId: string) => r().fleet.agents.find((a) => a.machineId === machineId)!.stateDir;

function quarantined(machineId: string, vmId: string): boolean {
  const dir = path.join(stateDirOf(machineId), "evicted");
  return fs.existsSync(dir) && fs.readdirSync(dir).some((d) => d.startsWith(`${vmId}-g1-`));
}

async function lastTask(vmId: string, kind: string) {
  return db().task.findFirstOrThrow({
    where: { vmId, kind },
    orderBy: { createdAt: "desc" },
    include: { steps: { orderBy: { position: "asc" } } },
  });
}

async function createVm(name: string, nic = true): Promise<string> {
  const imageId = await r().api.demoImage("x86_64");
  const body = { name, arch: "x86_64", imageId, vcpus: 1, memoryMb: 128, diskGb: 1, networkId: nic ? networkId : null };
  return (await r().api.expect<{ vm: { id: string } }>(202, "POST", "/api/v1/vms", body)).vm.id;
}

async function untilStatus(id: string, want: RegExp, timeout = 90_000): Promise<VmView> {
  await expect.poll(async () => (await vmView(id)).status, { timeout, interval: 250 }).toMatch(want);
  return vmView(id);
}

async function runningVm(name: string): Promise<{ id: string; hostId: string; machineId: string }> {
  const id = await createVm(name);
  const vm = await untilStatus(id, /^running$/);
  return { id, hostId: vm.host!.id, machineId: machineOf(vm.host!.id) };
}

/** Polls /proc every few ms until `ready` returns a value (faster than any agent step). */
async function watchProc<T>(what: string, ready: () => T | undefined, timeoutMs = 120_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = ready();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/**
 * Freezes the agent the moment the VM's QEMU process appears: the create is then between
 * "starting" and "running" — QEMU exists, the controller has not heard that it runs.
 */
async function freezeWhenQemuStarts(vmId: string): Promise<string> {
  const q = await watchProc(`a QEMU for ${vmId}`, () => qemusOf(vmId)[0]);
  freeze(q.agent.machineId);
  // What the agent sent before it froze reaches the controller within this; nothing comes after.
  await sleep(1_500);
  const task = await lastTask(vmId, "vm.create");
  expect(task.status, "the fault hit the create before it finished").toBe("running");
  return q.agent.machineId;
}

/** The create failed: task failed with a reason, VM in error, placed nowhere. */
async function expectFailedCreate(id: string, why: RegExp): Promise<VmView> {
  await expect.poll(async () => (await lastTask(id, "vm.create")).status, { timeout: 60_000 }).toBe("failed");
  const task = await lastTask(id, "vm.create");
  expect(task.error ?? "").toMatch(why);
  expect(task.steps.filter((s) => s.status === "failed").map((s) => s.message)).toEqual([task.error]);
  const vm = await vmView(id);
  expect([vm.status, vm.host]).toEqual(["error", null]);
  expect(vm.lastError).toBe(task.error);
  return vm;
}

async function untilHost(hostId: string, want: "online" | "offline") {
  await expect.poll(() => hostStatus(hostId), { timeout: 60_000, interval: 250 }).toBe(want);
}

async function deleteOk(id: string) {
  await r().api.expect(200, "DELETE", `/api/v1/vms/${id}`);
  expect((await r().api.call("GET", `/api/v1/vms/${id}`)).status).toBe(404);
}

describe.skipIf(missingBuild() !== null)("an agent killed or frozen during VM create and delete", () => {
  beforeAll(async () => {
    rig = await startRig({
      fleet: { x86_64: 2 },
      env: { POLYARCH_HEARTBEAT_TIMEOUT_MS: String(HEARTBEAT_TIMEOUT_MS) },
    });
    const net = { name: "kill-net", vlanId: 118, cidr: "192.168.118.0/24", gateway: "192.168.118.1" };
    networkId = (await rig.api.expect<{ id: string }>(201, "POST", "/api/v1/networks", net)).id;
  }, 240_000);
  afterEach(async () => {
    for (const [machineId, how] of touched) {
      if (how === "stopped") thaw(machineId);
      else await restart(machineId);
    }
  }, 120_000);
  afterAll(async () => {
    await rig?.stop();
  }, 120_000);

  it("agent SIGKILL mid-create (its QEMU lives on): the create fails, the retry runs elsewhere, the stale copy goes", async () => {
    // No NIC here: both agents share this machine's kernel and OVS, where the retried copy's tap would
    // have the same name as the stale one (one machine per host in production).
    const id = await createVm("kill-create", false);
    const machine = await freezeWhenQemuStarts(id);
    const hostId = hostOf(machine);
    await kill(machine, false);
    expect(qemusOf(id), "the crashed agent's QEMU still runs").toHaveLength(1);
    const failed = await expectFailedCreate(id, /agent on host .*(not reachable|stopped answering)/);
    console.log(`[faults] agent SIGKILL mid-create → VM ${failed.status}: ${failed.lastError}`);

    // The host goes offline; Retry places the VM on the other host.
    await untilHost(hostId, "offline");
    await r().api.expect(200, "POST", `/api/v1/vms/${id}/actions`, { action: "retry" });
    const retried = await untilStatus(id, /^running$/);
    expect(retried.host?.id).not.toBe(hostId);

    // The agent comes back, re-attaches the old QEMU, reports it, and is told to evict it.
    await restart(machine);
    await r().settle();
    expect(qemusOf(id).map((q) => q.agent.hostId)).toEqual([retried.host?.id]);
    expect(quarantined(machine, id), "the stale copy's files, quarantined").toBe(true);
    await deleteOk(id);
    await r().settle();
  }, 180_000);

  it("host SIGKILL (agent and QEMUs) mid-create: the create fails; once back, nothing of it is left", async () => {
    const id = await createVm("dead-host-create");
    const machine = await freezeWhenQemuStarts(id);
    await kill(machine, true);
    expect(qemusOf(id)).toHaveLength(0);
    await expectFailedCreate(id, /agent on host .*(not reachable|stopped answering)/);
    await restart(machine);
    await r().settle();
    expect(quarantined(machine, id)).toBe(true);
    // The user retries: it runs (on whichever host), once.
    await r().api.expect(200, "POST", `/api/v1/vms/${id}/actions`, { action: "retry" });
    await untilStatus(id, /^running$/);
    expect(qemusOf(id)).toHaveLength(1);
    await deleteOk(id);
    await r().settle();
  }, 180_000);

  it("agent SIGSTOP mid-create: the host turns offline, the create fails then; after SIGCONT the copy goes", async () => {
    const id = await createVm("stop-create");
    const machine = await freezeWhenQemuStarts(id);
    const hostId = hostOf(machine);
    await untilHost(hostId, "offline");
    const failed = await expectFailedCreate(id, /went offline/);
    console.log(`[faults] agent SIGSTOP mid-create → VM ${failed.status}: ${failed.lastError}`);
    thaw(machine);
    await untilHost(hostId, "online");
    await r().settle();
    expect(qemusOf(id)).toHaveLength(0);
    // Either the thawed agent finished the create and its heartbeat had the copy evicted (quarantined),
    // or it saw the controller's connection gone and undid the create itself: no VM dir either way.
    expect(quarantined(machine, id) || !fs.existsSync(path.join(stateDirOf(machine), "vms", id))).toBe(true);
    await deleteOk(id);
    await r().settle();
  }, 180_000);

  it("agent SIGSTOP during delete: the delete fails when the host goes offline, and succeeds when repeated", async () => {
    const { id, hostId, machineId } = await runningVm("stop-delete");
    freeze(machineId);
    const answer = await r().api.call<{ error?: { message: string } }>(
      "DELETE",
      `/api/v1/vms/${id}`,
      undefined,
      90_000,
    );
    expect(await hostStatus(hostId)).toBe("offline");
    thaw(machineId);
    expect(answer.status).toBe(503);
    expect(answer.body.error?.message).toMatch(/went offline/);
    const task = await lastTask(id, "vm.delete");
    expect([task.status, task.error]).toEqual(["failed", answer.body.error?.message]);
    const vm = await vmView(id);
    console.log(`[faults] agent SIGSTOP during delete → ${answer.status}, VM ${vm.status}: ${vm.lastError}`);
    expect(vm.lastError).toMatch(/^Delete failed: .*went offline/);
    await untilHost(hostId, "online");
    await deleteOk(id);
    await r().settle();
  }, 180_000);

  it("agent SIGKILL with a delete in flight (QEMU lives on): the delete fails, the VM runs on, a repeat deletes it", async () => {
    const { id, machineId } = await runningVm("kill-delete");
    freeze(machineId);
    const pending = r().api.call<{ error?: { message: string } }>("DELETE", `/api/v1/vms/${id}`, undefined, 90_000);
    await expect.poll(async () => (await vmView(id)).status, { timeout: 30_000, interval: 100 }).toBe("deleting");
    await kill(machineId, false);
    const answer = await pending;
    expect(answer.status).toBe(503);
    expect(answer.body.error?.message).toMatch(/agent on host .*not reachable/);
    expect((await vmView(id)).lastError).toMatch(/^Delete failed: /);
    await restart(machineId);
    await untilStatus(id, /^running$/); // re-attached and reported again
    expect(qemusOf(id)).toHaveLength(1);
    await deleteOk(id);
    await r().settle();
  }, 180_000);

  it("host SIGKILL mid-delete (its QEMU already gone): a repeated delete finishes the job", async () => {
    const { id, machineId } = await runningVm("dead-host-delete");
    const pending = r().api.call<{ error?: { message: string } }>("DELETE", `/api/v1/vms/${id}`, undefined, 90_000);
    // The agent has killed the QEMU and is releasing its port and files: freeze it right there.
    await watchProc("the QEMU to exit", () => (qemusOf(id).length === 0 ? true : undefined));
    freeze(machineId);
    await kill(machineId, true);
    const answer = await pending;
    console.log(`[faults] host SIGKILL mid-delete → ${answer.status} ${JSON.stringify(answer.body)}`);
    expect(answer.status).toBe(503);
    expect((await vmView(id)).lastError).toMatch(/^Delete failed: /);
    await restart(machineId);
    await deleteOk(id);
    await r().settle();
  }, 180_000);
});
