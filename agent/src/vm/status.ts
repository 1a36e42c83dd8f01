// A VM's reported status: its power state from the process and what QEMU says over QMP, plus usage.
import type { VmSpec, VmStatus } from "../../../lib/schemas/agent-api";
import { MACHINE_ALIAS } from "../qemu";
import { ensureQmp, onProcessGone } from "./attach";
import { errMessage } from "./errors";
import { pidAlive, processUsage } from "./proc";
import type { Vm, VmContext } from "./state";
import { type LaunchPlan, specDisplay, validateSpec } from "./validate";

export async function statusOf(ctx: VmContext, vm: Vm): Promise<VmStatus> {
  const plan = planOrNull(ctx, vm.spec);
  const base = {
    id: vm.id,
    name: vm.spec.name,
    arch: vm.spec.arch,
    vcpus: vm.spec.vcpus,
    memoryMb: vm.spec.memoryMb,
    accel: vm.state.accel ?? plan?.accel ?? "tcg",
    emulated: vm.state.emulated ?? plan?.emulated ?? true,
    serialLog: vm.paths.serialLog,
    display: specDisplay(vm.spec),
    generation: vm.spec.generation,
    machineType: vm.spec.machineType ?? MACHINE_ALIAS[vm.spec.arch],
    ...(vm.migration ? { migration: { ...vm.migration } } : {}),
  } satisfies Partial<VmStatus>;
  if (vm.pid !== null && !pidAlive(vm.pid)) await onProcessGone(ctx, vm);
  if (vm.pid === null) {
    if (vm.transition === "starting") return { ...base, powerState: "starting" };
    if (vm.error) return { ...base, powerState: "error", error: vm.error };
    return { ...base, powerState: "shutoff", ...(vm.lastExit ? { lastExit: { ...vm.lastExit } } : {}) };
  }
  const pid = vm.pid;
  const usage = processUsage(pid);
  const qmp = vm.transition === "starting" ? vm.qmp : await ensureQmp(ctx, vm, 1_000);
  let qmpStatus: string | undefined;
  let qmpError: string | undefined;
  if (qmp) {
    try {
      qmpStatus = (await qmp.queryStatus({ timeoutMs: 2_000 })).status;
      vm.lastQmpStatus = qmpStatus;
    } catch (err) {
      qmpError = `QMP not answering: ${errMessage(err)}`;
    }
  } else if (vm.transition !== "starting") {
    qmpError = "QMP socket not reachable";
  }
  let powerState: VmStatus["powerState"];
  if (vm.transition) powerState = vm.transition;
  else if (!qmpStatus) powerState = "unknown";
  else powerState = mapQmpStatus(qmpStatus);
  const error = qmpError ?? (powerState === "error" ? `QEMU reports ${qmpStatus}` : undefined);
  return { ...base, powerState, pid, ...(qmpStatus ? { qmpStatus } : {}), ...(error ? { error } : {}), ...usage };
}

function planOrNull(ctx: VmContext, spec: VmSpec): LaunchPlan | null {
  try {
    return validateSpec(spec, ctx.limits);
  } catch {
    return null;
  }
}

function mapQmpStatus(status: string): VmStatus["powerState"] {
  switch (status) {
    case "running":
      return "running";
    case "paused":
    case "suspended":
    case "inmigrate":
    case "postmigrate":
    case "prelaunch":
    case "finish-migrate":
    case "save-vm":
    case "restore-vm":
    case "debug":
    case "watchdog":
      return "paused";
    case "shutdown":
      return "stopping";
    case "internal-error":
    case "io-error":
    case "guest-panicked":
      return "error";
    default:
      return "unknown";
  }
}
