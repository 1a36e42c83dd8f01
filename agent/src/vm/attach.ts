// The link to a VM's running QEMU: its QMP connection, and noticing when the process is gone.
import { QmpClient } from "../qemu";
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
  client.on("event", (ev: { event: string }) => {
    ctx.log("qmp event", { id: vm.id, event: ev.event });
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
        if (gone && vm.pid === pid) await onProcessGone(ctx, vm);
      });
    }
  });
}

/** QEMU is gone: forget the pid, remove the sockets and pidfile. */
export async function onProcessGone(ctx: VmContext, vm: Vm): Promise<void> {
  if (vm.pid === null) return;
  const pid = vm.pid;
  vm.pid = null;
  vm.lastQmpStatus = undefined;
  if (vm.qmp) {
    const q = vm.qmp;
    vm.qmp = null;
    await q.close().catch(() => {});
  }
  await clearRuntimeFiles(vm);
  ctx.log("QEMU exited", { id: vm.id, pid });
  ctx.changed(vm);
}
