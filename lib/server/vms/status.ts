import "server-only";
// What agents say about VMs: each heartbeat updates the host, then the status of every VM placed
// on it, the host's image caches and the metrics. This is the one place that composes them.
import type { z } from "zod";
import type { heartbeatRequestSchema, VmStatus } from "../../schemas/agent-api";
import { db } from "../platform";
import { HEARTBEAT_INTERVAL_MS, recordHostHeartbeat } from "../hosts";
import { syncHostImages } from "../images";
import { recordHeartbeatMetrics } from "../insights";

/** Maps an agent's view of a VM to the controller's status vocabulary. */
export function vmStatusFromAgent(power: VmStatus["powerState"]): string {
  switch (power) {
    case "running":
    case "paused":
      return "running";
    case "shutoff":
      return "stopped";
    case "starting":
    case "stopping":
      return "creating";
    case "error":
      return "error";
    default:
      return "unknown";
  }
}

export async function recordHeartbeat(hostId: string, input: z.output<typeof heartbeatRequestSchema>) {
  await recordHostHeartbeat(hostId, input);
  // Report only what the agent knows about VMs placed on this host; transitional controller
  // states (creating/deleting) are left to the task that owns them.
  const reported = new Map(input.vms.map((v) => [v.id, v]));
  const vms = await db().vm.findMany({
    where: { hostId },
    select: { id: true, status: true, powerState: true, emulated: true },
  });
  for (const vm of vms) {
    const r = reported.get(vm.id);
    if (!r) {
      if (vm.status === "running" || vm.status === "stopped" || vm.status === "unknown") {
        if (vm.status !== "unknown")
          await db().vm.update({ where: { id: vm.id }, data: { status: "unknown", powerState: "unknown" } });
      }
      continue;
    }
    if (vm.status === "deleting" || vm.status === "scheduling" || vm.status === "pending") continue;
    // A QEMU starting or stopping is between two states the operation that caused it will record:
    // the heartbeat only notes the power state then (it used to turn a running VM "creating").
    const transitional = r.powerState === "starting" || r.powerState === "stopping";
    const status = transitional ? vm.status : vmStatusFromAgent(r.powerState);
    if (vm.status === "creating" && status !== "running") continue;
    if (status !== vm.status || r.powerState !== vm.powerState) {
      // Conditional on the status read above: a task that changed it meanwhile (the heartbeat was
      // sampled before) wins over this older news.
      await db().vm.updateMany({
        where: { id: vm.id, status: vm.status },
        data: { status, powerState: r.powerState, ...(r.error ? { lastError: r.error } : {}) },
      });
    }
  }
  await syncHostImages(hostId, input.images);
  await recordHeartbeatMetrics(
    hostId,
    input.metrics,
    vms.map((v) => v.id),
  );
  return { ok: true as const, heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS };
}
