// Target side of a live migration (ADR 035): the VM is built like a create (image ready, disks,
// network ports) but its disks are blank, QEMU waits paused for the source (-S -incoming defer),
// and an NBD server exports the disks for the source's mirrors. `complete` resumes it and makes it
// a normal VM (spec.json written only then: an agent restart before that finds no spec and
// cleans the directory up); `abort` removes everything it made.
import { existsSync, promises as fsp } from "node:fs";
import path from "node:path";
import type { MigrationIncoming, MigrationTarget } from "../../../lib/schemas/agent-migration";
import type { VmStatus } from "../../../lib/schemas/agent-api";
import { volumeNodeName } from "../qemu";
import { run } from "../util";
import { ensureQmp } from "../vm/attach";
import { renderSeed } from "../vm/cloud-init";
import { AgentError, errMessage, toAgentError } from "../vm/errors";
import { launchQemu } from "../vm/launch";
import { resolveCdrom, resolveMedia } from "../vm/media";
import { addPort, releasePorts } from "../vm/ports";
import { killNow } from "../vm/power";
import { isQemuWithPidfile, pidAlive, readPidFile, sleep, socketPathFits, sparseCopy, waitForExit } from "../vm/proc";
import { pathsFor, readState, removeVmDirs, saveSpec, saveState, sockDirFor, type Vm } from "../vm/state";
import { statusOf } from "../vm/status";
import { validateSpec } from "../vm/validate";
import type { MigrationHost } from "./host";
import { type DiskNode, freePort, startNbdExports, stopNbdServer, tcpUri } from "./qmp-steps";

/** Volume files this target created for an incoming VM (removed again by abort). */
const receivedVolumes = new WeakMap<Vm, string[]>();

export async function prepareIncoming(
  host: MigrationHost,
  id: string,
  input: MigrationIncoming,
  listenHost: string,
): Promise<MigrationTarget> {
  const { ctx } = host;
  const spec = input.spec;
  const plan = validateSpec(spec, ctx.limits);
  if (spec.cloudInit) renderSeed(id, { nics: spec.nics, cloudInit: spec.cloudInit });
  if (spec.nics.length > 0 && !ctx.opts.network)
    throw new AgentError(
      "conflict",
      "this agent has no network driver (Open vSwitch unavailable): cannot take VMs with NICs",
    );
  const sizeOf = new Map(input.disks.map((d) => [d.name, d.sizeBytes]));
  for (const v of spec.volumes)
    if (!sizeOf.has(v.id)) throw new AgentError("invalid", `volume ${v.id} of the spec is missing from disks`);
  for (const name of sizeOf.keys())
    if (name !== "root" && !spec.volumes.some((v) => v.id === name))
      throw new AgentError("invalid", `disk ${name} is not a volume of the spec`);

  return host.withLock(id, async () => {
    host.ensureOpen();
    if (host.vms.has(id)) throw new AgentError("conflict", `VM ${id} already exists on this host`);
    const dir = path.join(ctx.vmsDir, id);
    if (existsSync(dir)) throw new AgentError("conflict", `state directory for VM ${id} exists; inspect ${dir}`);
    // The mirror fills the blank disks up to their virtual size: refuse a move that cannot fit.
    const need = input.disks.reduce((sum, d) => sum + d.sizeBytes, 0);
    const fs = await fsp.statfs(ctx.vmsDir);
    if (fs.bavail * fs.bsize < need)
      throw new AgentError(
        "insufficient_storage",
        `VM ${id} needs up to ${need} bytes of disk; ${fs.bavail * fs.bsize} are free`,
      );
    const resolved = await resolveMedia(ctx, spec);
    if (spec.cdrom) await resolveCdrom(ctx, spec.cdrom);
    const sockDir = sockDirFor(ctx, id);
    const paths = pathsFor(ctx, id, sockDir);
    if (!socketPathFits(paths.qmp) || !socketPathFits(paths.serial))
      throw new AgentError("unavailable", `socket path too long: ${paths.serial}`);
    const vm: Vm = {
      id,
      spec,
      state: {
        version: 1,
        sockDir,
        taps: {},
        nicSpecs: {},
        accel: plan.accel,
        emulated: plan.emulated,
        resolved,
        volumePorts: {},
      },
      paths,
      pid: null,
      qmp: null,
      qmpConnecting: null,
      transition: null,
      forceRequested: false,
      migration: { role: "incoming", phase: "preparing" },
    };
    const created: string[] = [];
    receivedVolumes.set(vm, created);
    try {
      await fsp.mkdir(dir, { mode: 0o700 });
      if (sockDir !== dir) await fsp.mkdir(sockDir, { recursive: true, mode: 0o700 });
      await saveState(vm);
      await blankQcow2(ctx.opts.qemuImg, paths.disk, sizeOf.get("root")!);
      if (plan.uefi) await sparseCopy(plan.uefi.varsTemplate, paths.vars);
      // Volumes: blank files that must not exist yet; ports in spec order, as the source's precheck demands.
      await host.withVolumesLock(async () => {
        for (const [i, v] of spec.volumes.entries()) {
          const other = host.attachedTo(v.id);
          if (other !== null || (await ctx.volumes.exists(v.id)))
            throw new AgentError(
              "conflict",
              `volume ${v.id} already exists on this host${other ? ` (VM ${other})` : ""}`,
            );
          await fsp.mkdir(ctx.volumes.dir, { recursive: true, mode: 0o700 });
          await blankQcow2(ctx.opts.qemuImg, ctx.volumes.pathFor(v.id), sizeOf.get(v.id)!);
          created.push(v.id);
          vm.state.volumePorts![v.id] = i;
        }
        host.vms.set(id, vm); // listed from here on: attachedTo() sees the volumes
      });
      for (const nic of spec.nics) await addPort(ctx, vm, nic);
      await saveState(vm);
      if (!(await launchQemu(ctx, vm, plan, { incoming: true })))
        throw new AgentError("unavailable", `QEMU did not answer on QMP within ${ctx.startTimeoutMs} ms`);
      const q = await ensureQmp(ctx, vm, 5_000);
      if (!q) throw new AgentError("unavailable", "QMP of the incoming QEMU is not reachable");
      const disks: DiskNode[] = [
        { disk: "root", node: "disk0" },
        ...spec.volumes.map((v, i) => ({ disk: v.id, node: volumeNodeName(i) })),
      ];
      const nbdPort = await freePort(listenHost);
      await startNbdExports(q, listenHost, nbdPort, disks);
      const migPort = await freePort(listenHost);
      const migrationUri = tcpUri(listenHost, migPort);
      await q.execute("migrate-incoming", { uri: migrationUri });
      vm.migration = { role: "incoming", phase: "receiving" };
      host.emitChange(id);
      ctx.log("migration incoming ready", { id, migrationUri, nbdPort, disks: disks.length });
      return {
        migrationUri,
        nbd: { host: listenHost, port: nbdPort, exports: disks.map((d) => ({ disk: d.disk, name: d.disk })) },
      };
    } catch (err) {
      ctx.log("migration incoming failed; cleaning up", { id, error: errMessage(err) });
      await removeIncoming(host, vm);
      throw toAgentError(err, `could not prepare VM ${id} for an incoming migration`);
    }
  });
}

/**
 * How long the target may still be loading what the source sent after the source says "completed":
 * the source finishes when its last bytes are on the wire; the target leaves "inmigrate" only once
 * it has loaded them (the device state, last). Milliseconds with KVM; seconds for an emulated guest
 * on a busy host (CI: an aarch64 target under TCG, its agent under qemu-user).
 */
const INCOMING_SETTLE_MS = 60_000;
const SETTLE_POLL_MS = 100;

/** Waits for the incoming QEMU to leave "inmigrate"; a QEMU that fails the load exits (the query then throws). */
export async function waitUntilReceived(
  q: { queryStatus(): Promise<{ status: string }> },
  id: string,
  settleMs = INCOMING_SETTLE_MS,
): Promise<void> {
  const deadline = Date.now() + settleMs;
  while ((await q.queryStatus()).status === "inmigrate") {
    if (Date.now() >= deadline)
      throw new AgentError(
        "conflict",
        `VM ${id} has not received its memory yet (QEMU status inmigrate after ${settleMs / 1000} s)`,
      );
    await sleep(SETTLE_POLL_MS);
  }
}

/** The source has sent everything: stop the NBD server, resume the guest, keep the VM for good. */
export async function completeIncoming(host: MigrationHost, id: string): Promise<VmStatus> {
  return host.withLock(id, async () => {
    const vm = host.vms.get(id);
    if (!vm) throw new AgentError("not_found", `no VM ${id} on this host`);
    if (vm.migration?.role !== "incoming") return statusOf(host.ctx, vm); // completed before: idempotent
    const q = await ensureQmp(host.ctx, vm, 5_000);
    if (!q) throw new AgentError("unavailable", `QMP of VM ${id} is not reachable`);
    await waitUntilReceived(q, id);
    await stopNbdServer(q);
    await q.cont();
    vm.migration = undefined;
    receivedVolumes.delete(vm);
    await saveState(vm);
    await saveSpec(vm); // spec.json last: from now on the VM is this host's like any other
    host.ctx.log("migration incoming completed", { id, generation: vm.spec.generation });
    host.emitChange(id);
    return statusOf(host.ctx, vm);
  });
}

/** Idempotent: an unknown VM is aborted already. A VM that completed its move is refused (409). */
export async function abortIncoming(host: MigrationHost, id: string): Promise<void> {
  const vm = host.vms.get(id);
  if (vm?.migration?.role === "incoming") vm.forceRequested = true; // a start in progress gives up
  await host.withLock(id, async () => {
    const cur = host.vms.get(id);
    if (!cur) return removeOrphan(host, id);
    if (cur.migration?.role !== "incoming")
      throw new AgentError("conflict", `VM ${id} is not an incoming migration here (it completed, or was never one)`);
    await removeIncoming(host, cur);
    host.ctx.log("migration incoming aborted", { id });
    host.emitChange(id, { deleted: true });
  });
}

async function removeIncoming(host: MigrationHost, vm: Vm): Promise<void> {
  const { ctx } = host;
  vm.forceRequested = true;
  await killNow(ctx, vm).catch(() => {});
  await releasePorts(ctx, vm.id, vm.state).catch((err: unknown) =>
    ctx.log("could not release the ports of an aborted incoming VM", { id: vm.id, error: errMessage(err) }),
  );
  await host.withVolumesLock(async () => {
    if (host.vms.get(vm.id) === vm) host.vms.delete(vm.id);
    for (const v of receivedVolumes.get(vm) ?? []) await fsp.rm(ctx.volumes.pathFor(v), { force: true });
  });
  receivedVolumes.delete(vm);
  await removeVmDirs(vm.paths);
}

/**
 * An incoming VM an earlier agent process left (no spec.json, its QEMU still waiting: init()
 * leaves such a directory alone): kill that QEMU, remove the directory, its taps and volumes.
 */
async function removeOrphan(host: MigrationHost, id: string): Promise<void> {
  const { ctx } = host;
  if (!existsSync(path.join(ctx.vmsDir, id)) || existsSync(path.join(ctx.vmsDir, id, "spec.json"))) return;
  const state = await readState(ctx, id);
  const paths = pathsFor(ctx, id, state.sockDir);
  const pid = await readPidFile(paths.pidFile);
  if (pid && pidAlive(pid) && isQemuWithPidfile(pid, paths.pidFile)) {
    process.kill(pid, "SIGKILL");
    await waitForExit(pid, 10_000);
  }
  await releasePorts(ctx, id, state).catch(() => {});
  // Its volumes were blank files made for it (state.json lists them with their ports).
  await host.withVolumesLock(async () => {
    for (const v of Object.keys(state.volumePorts ?? {}))
      if (host.attachedTo(v) === null) await fsp.rm(ctx.volumes.pathFor(v), { force: true });
  });
  await removeVmDirs(paths);
  ctx.log("left-over incoming VM removed", { id, pid });
}

async function blankQcow2(qemuImg: string | undefined, file: string, sizeBytes: number): Promise<void> {
  await run(qemuImg ?? "qemu-img", ["create", "-q", "-f", "qcow2", file, String(sizeBytes)], { timeoutMs: 60_000 });
}
