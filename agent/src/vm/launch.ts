// Launching a VM's QEMU: the command line from its spec, the runtime files around it (socket dir,
// pidfile, argv record, rotated logs), and a detached spawn that waits for QMP to answer.
import { spawn, type ChildProcess } from "node:child_process";
import { constants as fsc, promises as fsp } from "node:fs";
import path from "node:path";
import { hasDisplay } from "../../../lib/display";
import { buildQemuArgs, type QemuBoot, type QemuNic, QmpClient } from "../qemu";
import { attachQmp, onProcessGone } from "./attach";
import { ensureSeedIso } from "./cloud-init";
import { type DirWaker, dirWaker } from "./dir-waker";
import { AgentError, errMessage } from "./errors";
import { resolveCdrom, resolveMedia } from "./media";
import { sparseCopy, writeFileAtomic } from "./proc";
import { clearRuntimeFiles, type Vm, type VmContext } from "./state";
import { type LaunchPlan, specDisplay } from "./validate";
import { volumesForLaunch } from "./volume-attach";

/**
 * Builds the command line, prepares the runtime files and spawns QEMU. True once QMP is attached;
 * false when QEMU did not answer within the start timeout (it may still run: the caller kills it).
 */
export async function launchQemu(
  ctx: VmContext,
  vm: Vm,
  plan: LaunchPlan,
  opts: { incoming?: boolean } = {},
): Promise<boolean> {
  // The command line first: a spec that cannot start leaves the last boot's files as they were.
  const args = await launchArgs(ctx, vm, plan, opts.incoming === true);
  await prepareRuntimeFiles(vm);
  const started = spawnQemu(ctx, vm, plan.binary, args);
  // The argv record is for people and tests, not for re-attach (that is the pidfile + /proc): written
  // while QEMU boots, finished before the start returns.
  const recorded = writeFileAtomic(vm.paths.argvFile, JSON.stringify([plan.binary, ...args], null, 1) + "\n").catch(
    (err: unknown) => ctx.log("could not record the QEMU command line", { id: vm.id, error: errMessage(err) }),
  );
  try {
    return await started;
  } finally {
    await recorded;
  }
}

/** Socket dir, no stale sockets or pidfile, logs rotated (all at once): what a fresh QEMU expects around it. */
async function prepareRuntimeFiles(vm: Vm): Promise<void> {
  const rotateQemuLog = async () => {
    const size = await fsp.stat(vm.paths.qemuLog).then(
      (st) => st.size,
      () => 0,
    );
    if (size > 1024 * 1024) await fsp.rename(vm.paths.qemuLog, `${vm.paths.qemuLog}.1`).catch(() => {});
  };
  await Promise.all([
    fsp.mkdir(vm.paths.sockDir, { recursive: true, mode: 0o700 }),
    clearRuntimeFiles(vm),
    // Keep one previous boot's console output for diagnosis; the current boot starts clean.
    fsp.rename(vm.paths.serialLog, `${vm.paths.serialLog}.1`).catch(() => {}),
    rotateQemuLog(),
  ]);
}

async function launchArgs(ctx: VmContext, vm: Vm, plan: LaunchPlan, incoming: boolean): Promise<string[]> {
  const spec = vm.spec;
  let boot: QemuBoot;
  if (spec.boot.type === "kernel") {
    let media = vm.state.resolved;
    // The image cache may have moved or evicted the files since create: ask again.
    if (!media?.kernel || !(await allExist([media.kernel, media.initrd]))) {
      media = await resolveMedia(ctx, spec);
      vm.state.resolved = media;
    }
    boot = { type: "kernel", kernel: media.kernel!, initrd: media.initrd, cmdline: spec.boot.cmdline };
  } else {
    boot = {
      type: spec.boot.type,
      firmware: spec.boot.firmware,
      pflash: plan.uefi ? { code: plan.uefi.code, vars: vm.paths.vars } : undefined,
    };
    if (plan.uefi && !(await exists(vm.paths.vars))) await sparseCopy(plan.uefi.varsTemplate, vm.paths.vars);
  }
  const nics: QemuNic[] = spec.nics.map((n) => {
    const tap = vm.state.taps[n.id];
    if (!tap) throw new AgentError("unavailable", `NIC ${n.id} has no network port`);
    return { id: n.id, mac: n.mac, tap };
  });
  // cloud-init seed (re)built from the current spec before QEMU opens it; null = no seed.
  const seedIso = await ensureSeedIso(vm.paths.dir, vm.id, spec, { genisoimage: ctx.opts.genisoimage });
  const cdrom = await resolveCdrom(ctx, spec.cdrom);
  const volumes = await volumesForLaunch(ctx, vm);
  try {
    return buildQemuArgs({
      id: vm.id,
      name: spec.name,
      guestArch: spec.arch,
      accel: plan.accel,
      vcpus: spec.vcpus,
      memoryMb: spec.memoryMb,
      disk: vm.paths.disk,
      boot,
      nics,
      qmpSocket: vm.paths.qmp,
      serialSocket: vm.paths.serial,
      serialLog: vm.paths.serialLog,
      pidFile: vm.paths.pidFile,
      display: specDisplay(spec),
      vncSocket: hasDisplay(specDisplay(spec)) ? vm.paths.vnc : undefined,
      sandbox: ctx.opts.sandbox,
      seedIso: seedIso ?? undefined,
      cdrom,
      volumes,
      incoming,
      machineType: spec.machineType,
      cpuModel: spec.cpuModel,
    });
  } catch (err) {
    throw new AgentError("invalid", errMessage(err));
  }
}

/**
 * Spawns QEMU in its own session with stdio on a log file, so neither the agent's death nor
 * its terminal reaches the VM; then waits for QMP. QEMU's own stderr explains early exits.
 */
async function spawnQemu(ctx: VmContext, vm: Vm, binary: string, args: string[]): Promise<boolean> {
  // Watching before the spawn: QEMU's bind of the QMP socket wakes the wait below at once.
  const waker = dirWaker(vm.paths.sockDir, path.basename(vm.paths.qmp));
  try {
    return await spawnAndConnect(ctx, vm, binary, args, waker);
  } finally {
    waker.close();
  }
}

async function spawnAndConnect(
  ctx: VmContext,
  vm: Vm,
  binary: string,
  args: string[],
  waker: DirWaker,
): Promise<boolean> {
  const logFd = await fsp.open(vm.paths.qemuLog, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_APPEND, 0o600);
  let child: ChildProcess;
  try {
    child = spawn(binary, args, { cwd: vm.paths.dir, detached: true, stdio: ["ignore", logFd.fd, logFd.fd] });
  } finally {
    await logFd.close();
  }
  // Holder object: closures mutate it, the wait loop below reads it.
  const st: { exited: { code: number | null; signal: NodeJS.Signals | null } | null; spawnError: Error | null } = {
    exited: null,
    spawnError: null,
  };
  child.on("error", (err) => {
    st.spawnError = err;
    waker.wake();
  });
  child.on("exit", (code, signal) => {
    st.exited = { code, signal };
    waker.wake();
    if (vm.child === child) vm.child = undefined;
    if (vm.pid === child.pid) void onProcessGone(ctx, vm, { code, signal });
  });
  child.unref();
  vm.child = child;
  if (child.pid) vm.pid = child.pid;

  const deadline = Date.now() + ctx.startTimeoutMs;
  // The socket's appearance wakes us (inotify); the timer only covers a missed event or a
  // socket that exists but does not accept yet. Capped low: never slower than a 5–20 ms poll.
  let pollMs = 5;
  while (Date.now() < deadline) {
    if (st.spawnError) throw new AgentError("unavailable", `could not run ${binary}: ${errMessage(st.spawnError)}`);
    if (st.exited) break;
    if (vm.forceRequested) throw new AgentError("conflict", "start interrupted by power-off");
    // QEMU serves one QMP client at a time: share the connection attempt with ensureQmp (a status
    // poll during the start), else the loser waits for a greeting that never comes.
    if (vm.qmp && !vm.qmp.closed) return true;
    if (vm.qmpConnecting) {
      if (await vm.qmpConnecting) return true;
    } else if (await exists(vm.paths.qmp)) {
      const connectTimeoutMs = Math.max(1_000, Math.min(5_000, deadline - Date.now()));
      const attempt = (async () => {
        try {
          const client = await QmpClient.connect(vm.paths.qmp, { connectTimeoutMs });
          attachQmp(ctx, vm, client);
          return client;
        } catch {
          return null; // not listening yet
        } finally {
          vm.qmpConnecting = null;
        }
      })();
      vm.qmpConnecting = attempt;
      if (await attempt) return true;
    }
    await waker.wait(pollMs);
    pollMs = Math.min(20, pollMs * 1.5);
  }
  if (st.exited) {
    const tail = await qemuLogTail(vm);
    const how = describeExit(st.exited);
    throw new AgentError("unavailable", `QEMU exited during start${how}${tail ? `: ${tail}` : ""}`);
  }
  return false;
}

const allExist = async (files: Array<string | undefined>) =>
  (await Promise.all(files.map((f) => f === undefined || exists(f)))).every(Boolean);

const exists = (p: string) =>
  fsp.access(p).then(
    () => true,
    () => false,
  );

async function qemuLogTail(vm: Vm): Promise<string> {
  const text = await fsp.readFile(vm.paths.qemuLog, "utf8").catch(() => "");
  return text
    .trim()
    .split("\n")
    .slice(-3)
    .map((l) => l.replace(/^\S+ qemu-system-\S+: /, "").trim())
    .join(" | ")
    .slice(0, 500);
}

function describeExit(e: { code: number | null; signal: NodeJS.Signals | null }): string {
  if (e.signal) return ` (signal ${e.signal})`;
  return e.code !== null ? ` (exit code ${e.code})` : "";
}
