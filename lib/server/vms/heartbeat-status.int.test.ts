// What a heartbeat may do to a VM's status: report what QEMU is, but never overwrite the state an
// operation recorded with older or transitional news (a running VM once turned "creating").
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { TestDatabase } from "../../../prisma/test-db";
import type { VmStatus } from "../../schemas/agent-api";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import { insertTestHost } from "../testing/rows";
import { db } from "../platform";
import { applyHeartbeat, recordHeartbeat } from "./status";
import { heartbeatRows } from "./heartbeat-rows";

const usage = { cpuPct: 1, memoryUsedMb: 1, diskUsedGb: 1, loadAvg: [] };
const agentVm = (id: string, powerState: VmStatus["powerState"]): VmStatus => ({
  id,
  name: id,
  arch: "x86_64",
  powerState,
  emulated: false,
  accel: "tcg",
  vcpus: 1,
  memoryMb: 256,
});

describe.each(PROVIDERS)("heartbeat VM status on %s", (provider) => {
  let database: TestDatabase | undefined;
  beforeEach(async () => {
    database = await useFreshDatabase(provider);
  });
  afterEach(async () => {
    await releaseDatabase(database);
  });

  async function vmOn(hostId: string, id: string, status: string, powerState: string) {
    await db().vm.create({
      data: { id, name: id, arch: "x86_64", vcpus: 1, memoryMb: 256, diskGb: 1, hostId, status, powerState },
    });
  }
  const statusOf = async (id: string) => (await db().vm.findUniqueOrThrow({ where: { id } })).status;

  it("a starting or stopping QEMU changes only the power state; settled states are taken over", async () => {
    const host = await insertTestHost();
    await vmOn(host.id, "vm-start", "running", "running");
    await vmOn(host.id, "vm-stop", "stopped", "shutoff");
    await vmOn(host.id, "vm-ran", "stopped", "shutoff");
    await recordHeartbeat(host.id, {
      usage,
      vms: [agentVm("vm-start", "starting"), agentVm("vm-stop", "stopping"), agentVm("vm-ran", "running")],
    } as never);
    const rows = await db().vm.findMany({
      orderBy: { id: "asc" },
      select: { id: true, status: true, powerState: true },
    });
    expect(rows).toEqual([
      { id: "vm-ran", status: "running", powerState: "running" },
      { id: "vm-start", status: "running", powerState: "starting" },
      { id: "vm-stop", status: "stopped", powerState: "stopping" },
    ]);
    // A VM the agent leaves out of two reports in a row becomes unknown (one may predate its arrival);
    // one that reappears shut off is stopped.
    await recordHeartbeat(host.id, { usage, vms: [agentVm("vm-start", "shutoff")] } as never);
    expect(await statusOf("vm-start")).toBe("stopped");
    expect(await statusOf("vm-ran")).toBe("running");
    await recordHeartbeat(host.id, { usage, vms: [agentVm("vm-start", "shutoff")] } as never);
    expect(await statusOf("vm-ran")).toBe("unknown");
  });

  it("news sampled before a VM moved: the old host's heartbeat leaves the VM on its new host as it is", async () => {
    const a = await insertTestHost({ name: "a" });
    const b = await insertTestHost({ name: "b" });
    await vmOn(a.id, "vm-gone", "running", "running");
    await vmOn(a.id, "vm-off", "running", "running");
    // A's heartbeat reads its rows, then a migration commits both VMs to B before A's writes.
    const rows = (await heartbeatRows({ hostId: a.id }))!;
    expect(rows.vms.map((v) => v.id).sort()).toEqual(["vm-gone", "vm-off"]);
    await db().vm.updateMany({ where: { hostId: a.id }, data: { hostId: b.id, generation: 2 } });
    // A no longer has vm-gone; its vm-off copy was paused and then shut off by the move.
    await applyHeartbeat(rows.host, rows.vms, { usage, vms: [agentVm("vm-off", "shutoff")] } as never);
    const after = await db().vm.findMany({ orderBy: { id: "asc" }, select: { id: true, hostId: true, status: true } });
    expect(after).toEqual([
      { id: "vm-gone", hostId: b.id, status: "running" },
      { id: "vm-off", hostId: b.id, status: "running" },
    ]);
    // B's first report after the move was gathered before vm-gone arrived (a cold move's target):
    // it leaves vm-gone as it is; the next one that leaves it out too makes it unknown.
    await recordHeartbeat(b.id, { usage, vms: [agentVm("vm-off", "shutoff")] } as never);
    expect([await statusOf("vm-gone"), await statusOf("vm-off")]).toEqual(["running", "stopped"]);
    await recordHeartbeat(b.id, { usage, vms: [agentVm("vm-off", "shutoff")] } as never);
    expect([await statusOf("vm-gone"), await statusOf("vm-off")]).toEqual(["unknown", "stopped"]);
    // Reported again: back to what the agent says, and a later single miss is again only a first miss.
    await recordHeartbeat(b.id, { usage, vms: [agentVm("vm-gone", "running"), agentVm("vm-off", "shutoff")] } as never);
    await recordHeartbeat(b.id, { usage, vms: [agentVm("vm-off", "shutoff")] } as never);
    expect(await statusOf("vm-gone")).toBe("running");
    expect(await db().task.count({ where: { kind: "vm.crash" } })).toBe(0);
  });

  it("a QEMU that died: stopped with the reason and a failed vm.crash task, not restarted unless HA; a guest poweroff is a stop", async () => {
    const host = await insertTestHost();
    await vmOn(host.id, "vm-crash", "running", "running");
    await vmOn(host.id, "vm-ha", "running", "running");
    await db().vm.update({ where: { id: "vm-ha" }, data: { ha: true } });
    await vmOn(host.id, "vm-off", "running", "running");
    const at = new Date().toISOString();
    const detail = "QEMU exited unexpectedly (killed by SIGKILL)";
    const report = () =>
      recordHeartbeat(host.id, {
        usage,
        vms: [
          { ...agentVm("vm-crash", "shutoff"), lastExit: { reason: "crashed", detail, at } },
          { ...agentVm("vm-ha", "shutoff"), lastExit: { reason: "crashed", detail, at } },
          {
            ...agentVm("vm-off", "shutoff"),
            lastExit: { reason: "guest-shutdown", detail: "the guest powered itself off", at },
          },
        ],
      } as never);
    await report();
    await report(); // the agent repeats it every heartbeat: one crash, one task
    const rows = await db().vm.findMany({
      orderBy: { id: "asc" },
      select: { id: true, status: true, desiredState: true, lastError: true },
    });
    expect(rows).toEqual([
      { id: "vm-crash", status: "stopped", desiredState: "stopped", lastError: detail },
      { id: "vm-ha", status: "stopped", desiredState: "running", lastError: detail },
      { id: "vm-off", status: "stopped", desiredState: "stopped", lastError: null },
    ]);
    const tasks = await db().task.findMany({ where: { kind: "vm.crash" }, orderBy: { vmId: "asc" } });
    expect(tasks.map((t) => [t.vmId, t.status, t.error, t.hostId])).toEqual([
      ["vm-crash", "failed", detail, host.id],
      ["vm-ha", "failed", detail, host.id],
    ]);
    expect(await db().auditEvent.count({ where: { action: "vm.crash", targetId: "vm-crash" } })).toBe(1);
  });
});
