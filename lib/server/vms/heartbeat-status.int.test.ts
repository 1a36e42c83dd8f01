// What a heartbeat may do to a VM's status: report what QEMU is, but never overwrite the state an
// operation recorded with older or transitional news (a running VM once turned "creating").
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { TestDatabase } from "../../../prisma/test-db";
import type { VmStatus } from "../../schemas/agent-api";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import { insertTestHost } from "../testing/rows";
import { db } from "../platform";
import { recordHeartbeat } from "./status";

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
    // A VM the agent no longer reports becomes unknown; one that reappears shut off is stopped.
    await recordHeartbeat(host.id, { usage, vms: [agentVm("vm-start", "shutoff")] } as never);
    expect(await statusOf("vm-start")).toBe("stopped");
    expect(await statusOf("vm-ran")).toBe("unknown");
  });
});
