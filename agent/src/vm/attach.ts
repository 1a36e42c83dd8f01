// The link to a VM's running QEMU: its QMP connection, and noticing when the process is gone.
import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { QmpClient, type QmpEvent } from "../qemu";
import { errMessage } from "./errors";
import { waitForExit } from "./proc";
import { clearRuntimeFiles, type Vm, type VmContext } from "./state";

/** Connected QMP client for a live VM (connects if needed), or null when unreachable. */
export function ensureQmp(ctx: VmContext, vm: Vm, timeoutMs: number): Promise<QmpClient | null> {
  if (vm.qmp && !vm.qmp.closed) return Promise.resolve(vm.qmp);
  if (ctx.isClosed() || vm.pid === null) return Promise.resolve(null);
  vm.qmpConnecting ??= (async () => {
    try {
      const client = await QmpClient.connect(vm.paths.qmp, { connectTimeoutMs: timeoutMs });
      if (ctx.isClosed()) {
        await client.close();
        return null;
      }
      attachQmp(ctx, vm, client);
      return client;
    } catch (err) {
      ctx.log("QMP connect failed", { id: vm.id, error: errMessage(err) });
      return null;
    } finally {
      vm.qmpConnecting = null;
    }
  })();
  return vm.qmpConnecting;
}

export function attachQmp(ctx: VmContext, vm: Vm, client: QmpClient): void {
  vm.qmp = client;
  client.on("event", (ev: QmpEvent) => {
    ctx.log("qmp event", { id: vm.id, event: ev.event });
    // guest: true = the guest OS powered off (ACPI, `poweroff`), not QEMU's own quit or a signal
    if (ev.event === "SHUTDOWN" && ev.data?.guest === true) vm.guestShutdown = true;
    if (ev.event === "STOP") vm.lastQmpStatus = "paused";
    if (ev.event === "RESUME") vm.lastQmpStatus = "running";
    ctx.changed(vm);
  });
  const pid = vm.pid;
  client.on("close", () => {
    if (vm.qmp === client) vm.qmp = null;
    // QMP closing while we did not close it means QEMU exited (or is exiting).
    if (!ctx.isClosed() && pid !== null && vm.pid === pid) {
      void waitForExit(pid, 2_000).then(async (gone) => {
        // Our own child: its exit event says how it ended (launch.ts); leave it to that.
        if (gone && vm.pid === pid && vm.child?.pid !== pid) await onProcessGone(ctx, vm);
      });
    }
  });
}

/** How a QEMU process ended, when we are its parent (else unknown: re-attached after an agent restart). */
export type QemuExit = { code: number | null; signal: NodeJS.Signals | null };

function childExit(child: ChildProcess, timeoutMs: number): Promise<QemuExit | undefined> {
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), timeoutMs);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

/** The last line QEMU wrote to its log (its own error message when it aborts), bounded. */
function lastLogLine(file: string): string | null {
  try {
    const lines = readFileSync(file, "utf8").slice(-2000).trim().split("\n");
    const last = lines.at(-1)?.trim();
    return last ? last.slice(0, 200) : null;
  } catch {
    return null;
  }
}

/**
 * Why QEMU ended when nobody here asked it to: the guest powered itself off (a SHUTDOWN event from
 * the guest, then a clean exit), or it died — a signal (OOM killer, kill -9) or an abort. The
 * controller tells the two apart (a guest's poweroff is a stop; a crash is an error to show).
 */
function classifyExit(vm: Vm, exit: QemuExit | undefined): Vm["lastExit"] {
  const at = new Date().toISOString();
  if (vm.guestShutdown && (!exit || (exit.code === 0 && !exit.signal)))
    return { reason: "guest-shutdown", detail: "the guest powered itself off", at };
  const how = exit?.signal
    ? `killed by ${exit.signal}`
    : exit && exit.code !== null
      ? `exit code ${exit.code}`
      : "the process is gone";
  const log = exit?.signal ? null : lastLogLine(vm.paths.qemuLog);
  return { reason: "crashed", detail: `QEMU exited unexpectedly (${how})${log ? `: ${log}` : ""}`, at };
}

/** QEMU is gone: forget the pid, remove the sockets and pidfile, and note why when it was a surprise. */
export async function onProcessGone(ctx: VmContext, vm: Vm, exit?: QemuExit): Promise<void> {
  if (vm.pid === null) return;
  const pid = vm.pid;
  const child = vm.child?.pid === pid ? vm.child : undefined;
  vm.pid = null;
  // Noticed by a status poll before Node emitted our child's exit: wait for it, it says how.
  if (!exit && child) exit = await childExit(child, 2_000);
  vm.lastQmpStatus = undefined;
  if (!vm.exitExpected && vm.transition === null && !vm.forceRequested && !ctx.isClosed()) {
    vm.lastExit = classifyExit(vm, exit);
    ctx.log(vm.lastExit?.reason === "crashed" ? "QEMU died" : "guest powered off", { id: vm.id, pid, ...vm.lastExit });
  }
  vm.exitExpected = false;
  vm.guestShutdown = false;
  if (vm.qmp) {
    const q = vm.qmp;
    vm.qmp = null;
    await q.close().catch(() => {});
  }
  await clearRuntimeFiles(vm);
  ctx.log("QEMU exited", { id: vm.id, pid });
  ctx.changed(vm);
}
