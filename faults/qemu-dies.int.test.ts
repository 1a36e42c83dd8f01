// A QEMU process that dies on its own (OOM killer, a crash, an operator's kill -9): the VM must turn
// stopped — never keep saying "running" —, the user sees why (the VM's last error and a failed
// "vm.crash" task), it is not restarted behind the user's back (no crash loop) unless it is HA, and
// nothing of it leaks. Real controller, agent and QEMU (lib/server/testing/fault-rig).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "../lib/server/platform";
import { fleetQemus, missingBuild, startRig, type Rig } from "../lib/server/testing/fault-rig";

let rig: Rig | undefined;
const KILLED = "QEMU exited unexpectedly (killed by SIGKILL)";

async function createRunning(name: string, ha = false): Promise<string> {
  const { api } = rig!;
  const imageId = await api.demoImage("x86_64");
  const body = { name, arch: "x86_64", imageId, vcpus: 1, memoryMb: 128, diskGb: 1, ...(ha ? { ha: true } : {}) };
  const { vm } = await api.expect<{ vm: { id: string } }>(202, "POST", "/api/v1/vms", body);
  await expect.poll(() => statusOf(vm.id), { timeout: 120_000, interval: 500 }).toBe("running");
  return vm.id;
}
const statusOf = async (id: string) => (await db().vm.findUniqueOrThrow({ where: { id } })).status;
const qemuOf = (id: string) => fleetQemus(rig!.fleet).filter((q) => q.vmId === id);

describe.skipIf(missingBuild() !== null)("a QEMU that dies on its own", () => {
  beforeAll(async () => {
    rig = await startRig({ fleet: { x86_64: 1 } });
  }, 240_000);
  afterAll(async () => {
    await rig?.stop();
  }, 120_000);

  it("the VM turns stopped with the reason and a failed task, stays stopped, and starts again when asked", async () => {
    const { api } = rig!;
    const id = await createRunning("dies-1");
    const [qemu] = qemuOf(id);
    process.kill(qemu!.pid, "SIGKILL");
    await expect.poll(() => statusOf(id), { timeout: 60_000, interval: 500 }).toBe("stopped");

    const vm = await api.expect<{ status: string; powerState: string; lastError: string | null }>(
      200,
      "GET",
      `/api/v1/vms/${id}`,
    );
    expect(vm).toMatchObject({ status: "stopped", powerState: "shutoff", lastError: KILLED });
    const { items } = await api.expect<{ items: { kind: string; status: string; error: string | null }[] }>(
      200,
      "GET",
      `/api/v1/vms/${id}/tasks`,
    );
    expect(items.filter((t) => t.kind === "vm.crash")).toEqual([
      expect.objectContaining({ status: "failed", error: KILLED }),
    ]);
    expect((await db().vm.findUniqueOrThrow({ where: { id } })).desiredState).toBe("stopped");
    await rig!.settle();
    // reconciliation ran meanwhile (every 5 s) and left it alone: no crash loop
    expect([await statusOf(id), qemuOf(id)]).toEqual(["stopped", []]);

    await api.expect(200, "POST", `/api/v1/vms/${id}/actions`, { action: "start" });
    await expect.poll(() => statusOf(id), { timeout: 120_000, interval: 500 }).toBe("running");
    expect(qemuOf(id)).toHaveLength(1);
    await rig!.settle();
  });

  it("an HA VM is started again on its host by reconciliation, once", async () => {
    const id = await createRunning("dies-ha", true);
    const [before] = qemuOf(id);
    process.kill(before!.pid, "SIGKILL");
    // a new QEMU for it, started by the reconcile job (the VM's desired state stays running)
    await expect
      .poll(() => qemuOf(id).some((q) => q.pid !== before!.pid), { timeout: 120_000, interval: 500 })
      .toBe(true);
    const after = qemuOf(id);
    expect(after).toHaveLength(1);
    expect(after[0]!.pid).not.toBe(before!.pid);
    await expect.poll(() => statusOf(id), { timeout: 60_000, interval: 500 }).toBe("running");
    expect(await db().task.count({ where: { vmId: id, kind: "vm.crash", status: "failed" } })).toBe(1);
    await rig!.settle();
  });
});
