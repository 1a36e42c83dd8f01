// Power transitions of a VM's QEMU: start (never a second QEMU for the same VM), graceful stop
// through the ACPI power button with a forced fallback, and kill.
import { ensureQmp, onProcessGone } from "./attach";
import { AgentError, errMessage, toAgentError } from "./errors";
import { launchQemu } from "./launch";
import { isQemuWithPidfile, pidAlive, readPidFile, waitForExit } from "./proc";
import { saveState, type Vm, type VmContext } from "./state";
import { validateSpec } from "./validate";

export async function startVm(ctx: VmContext, vm: Vm): Promise<void> {
  if (vm.pid !== null && pidAlive(vm.pid)) return;
  // Belt and braces against a duplicate QEMU: a live process holding our pidfile wins.
  const other = await readPidFile(vm.paths.pidFile);
  if (other && pidAlive(other) && isQemuWithPidfile(other, vm.paths.pidFile)) {
    vm.pid = other;
    await ensureQmp(ctx, vm, 5_000);
    return;
  }
  const plan = validateSpec(vm.spec, ctx.limits);
  vm.transition = "starting";
  vm.forceRequested = false;
  vm.exitExpected = false;
  vm.guestShutdown = false;
  vm.lastExit = undefined;
  ctx.changed(vm);
  try {
    if (!(await launchQemu(ctx, vm, plan))) {
      await killNow(ctx, vm);
      throw new AgentError("unavailable", `QEMU did not answer on QMP within ${ctx.startTimeoutMs} ms`);
    }
    vm.state.accel = plan.accel;
    vm.state.emulated = plan.emulated;
    vm.state.lastError = undefined;
    vm.error = undefined;
    await saveState(vm);
    ctx.log("vm started", { id: vm.id, pid: vm.pid, accel: plan.accel });
  } catch (err) {
    vm.error = errMessage(err);
    vm.state.lastError = vm.error;
    await saveState(vm).catch(() => {});
    throw toAgentError(err, `VM ${vm.id} could not start`, "unavailable");
  } finally {
    vm.transition = null;
    ctx.changed(vm);
  }
}

/** ACPI power button, wait up to the stop timeout, then force. */
export async function gracefulStop(ctx: VmContext, vm: Vm): Promise<void> {
  if (vm.pid === null || !pidAlive(vm.pid)) {
    if (vm.pid !== null) await onProcessGone(ctx, vm);
    return;
  }
  const pid = vm.pid;
  vm.transition = "stopping";
  vm.exitExpected = true;
  ctx.changed(vm);
  try {
    const q = await ensureQmp(ctx, vm, 5_000);
    let gone = false;
    if (q) {
      await q
        .systemPowerdown()
        .catch((err) => ctx.log("system_powerdown failed", { id: vm.id, error: errMessage(err) }));
      gone = await waitForExit(pid, ctx.stopTimeoutMs, () => vm.forceRequested || ctx.isClosed());
    }
    if (!gone) {
      ctx.log("guest did not power off in time; forcing", { id: vm.id, timeoutMs: ctx.stopTimeoutMs });
      await killNow(ctx, vm);
    }
    await onProcessGone(ctx, vm);
  } finally {
    vm.transition = null;
    ctx.changed(vm);
  }
}

/** QMP quit, then SIGKILL if QEMU is still there. Only ever signals a pid that is our QEMU. */
export async function killNow(ctx: VmContext, vm: Vm): Promise<void> {
  const pid = vm.pid;
  vm.exitExpected = true;
  if (pid === null || !pidAlive(pid)) {
    if (pid !== null) await onProcessGone(ctx, vm);
    return;
  }
  const q = vm.qmp && !vm.qmp.closed ? vm.qmp : await ensureQmp(ctx, vm, 2_000);
  if (q) await q.quit({ timeoutMs: 3_000 }).catch(() => {});
  if (!(await waitForExit(pid, 5_000))) {
    if (isQemuWithPidfile(pid, vm.paths.pidFile) || vm.child?.pid === pid) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        /* already gone */
      }
    }
    await waitForExit(pid, 5_000);
  }
  await onProcessGone(ctx, vm);
}
