// VmManager: desired VM specs in, detached QEMU processes out. Per-VM state lives in
// <stateDir>/vms/<id>/ so a restarted agent finds, re-attaches to and reports every QEMU it left
// running — and never starts a second one for the same VM.
//
// The manager holds the VMs and serialises work per VM; the work itself is in create.ts,
// update.ts, power.ts (start/stop/kill), launch.ts (QEMU command line and spawn), attach.ts (QMP),
// status.ts, ports.ts (network ports) and state.ts (the VM's files).
import { EventEmitter } from "node:events";
import { promises as fsp } from "node:fs";
import os from "node:os";
import path from "node:path";
import { hasDisplay } from "../../../lib/display";
import {
  type AgentSnapshot,
  type AgentVolume,
  safeIdSchema,
  type VmAction,
  type VmSpec,
  type VmSpecInput,
  vmSpecSchema,
  type VmStatus,
  type VolumeSpec,
  volumeSpecSchema,
} from "../../../lib/schemas/agent-api";
import { VmMigrations } from "../migration";
import { gbToBytes } from "../qemu";
import { ensureQmp } from "./attach";
import { renderSeed } from "./cloud-init";
import { createVm } from "./create";
import { type ExportedDisk, exportDisk } from "./disk-export";
import { AgentError, errMessage, zodMessage } from "./errors";
import { evictVm, isStale, localGeneration } from "./evict";
import { releasePorts, resecurePorts } from "./ports";
import { gracefulStop, killNow, startVm } from "./power";
import { isQemuWithPidfile, pidAlive, readPidFile } from "./proc";
import {
  clearRuntimeFiles,
  pathsFor,
  readSpec,
  readState,
  removeVmDirs,
  saveSpec,
  saveState,
  type Vm,
  type VmContext,
} from "./state";
import { createSnapshot, deleteSnapshot, listSnapshots, revertSnapshot } from "./snapshots";
import { statusOf } from "./status";
import { type StepListener, stepReporter } from "./steps";
import type { ApplyResult, VmConsolePaths, VmManagerOptions } from "./types";
import { updateVm } from "./update";
import { specDisplay, validateSpec } from "./validate";
import { volumeNode } from "./volume-attach";
import { VolumeStore } from "./volumes";

const DEFAULT_STOP_TIMEOUT_MS = 60_000;
const DEFAULT_START_TIMEOUT_MS = 30_000;
const DEFAULT_UNPLUG_TIMEOUT_MS = 30_000;
/** lock key of every change to volume attachments; VM ids cannot contain '/' */
const VOLUMES_LOCK = "volumes/";

/**
 * Events: `change` ({ id, powerState? }) whenever a VM's process or QMP status changes; callers
 * re-read with get(id). Public methods are safe to call concurrently: operations on one VM are
 * serialised; poweroff and delete preempt a pending graceful stop.
 */
export class VmManager extends EventEmitter {
  private readonly vms = new Map<string, Vm>();
  private readonly locks = new Map<string, Promise<unknown>>();
  /** VMs between the start of create() and their entry in `vms` (imageUsers() counts them) */
  private readonly creating = new Map<string, VmSpec>();
  private readonly ctx: VmContext;
  private initPromise: Promise<void> | null = null;
  private closed = false;
  /** live and cold moves between hosts (agent/src/migration, ADR 035) */
  readonly migrations: VmMigrations;

  constructor(private readonly opts: VmManagerOptions) {
    super();
    this.ctx = {
      opts,
      vmsDir: path.join(path.resolve(opts.stateDir), "vms"),
      limits: {
        hostArch: opts.hostArch,
        kvm: opts.kvm,
        cpuCount: opts.hostLimits?.cpuCount ?? os.availableParallelism?.() ?? os.cpus().length,
        memoryMb: opts.hostLimits?.memoryMb ?? Math.floor(os.totalmem() / 1024 / 1024),
        binaries: opts.qemuBinaries,
        firmware: opts.firmware,
        machines: opts.machines,
      },
      stopTimeoutMs: opts.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS,
      startTimeoutMs: opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS,
      unplugTimeoutMs: opts.unplugTimeoutMs ?? DEFAULT_UNPLUG_TIMEOUT_MS,
      volumes: new VolumeStore({ stateDir: opts.stateDir, qemuImg: opts.qemuImg, resolveImage: opts.resolveImage }),
      isClosed: () => this.closed,
      log: (msg, ctx) => this.opts.log?.(msg, ctx),
      changed: (vm) => this.emit("change", { id: vm.id }),
    };
    this.migrations = new VmMigrations({
      ctx: this.ctx,
      vms: this.vms,
      init: () => this.init(),
      ensureOpen: () => this.ensureOpen(),
      withLock: (id, fn) => this.withLock(id, fn),
      withVolumesLock: (fn) => this.withLock(VOLUMES_LOCK, fn),
      busy: (id) => this.locks.has(id),
      attachedTo: (volumeId) => this.attachedTo(volumeId),
      emitChange: (id, extra) => this.emit("change", { id, ...extra }),
    });
  }

  // ------------------------------------------------------------------------------------------
  // Start-up: find what a previous agent left behind.

  /** Scans <stateDir>/vms, re-attaches to live QEMUs, marks dead ones shutoff. Idempotent. */
  init(): Promise<void> {
    this.initPromise ??= this.doInit();
    return this.initPromise;
  }

  private async doInit(): Promise<void> {
    await fsp.mkdir(this.ctx.vmsDir, { recursive: true, mode: 0o700 });
    await this.ctx.volumes.removeLeftovers();
    const entries = await fsp.readdir(this.ctx.vmsDir, { withFileTypes: true });
    for (const ent of entries) {
      if (!ent.isDirectory() || !safeIdSchema.safeParse(ent.name).success) continue;
      try {
        await this.loadVm(ent.name);
      } catch (err) {
        this.ctx.log("vm state unreadable; leaving it alone", { id: ent.name, error: errMessage(err) });
      }
    }
  }

  private async loadVm(id: string): Promise<void> {
    const state = await readState(this.ctx, id);
    const spec = await readSpec(this.ctx, id);
    if (spec === null) {
      // spec.json is written last on create: without it the agent died mid-create. Undo it,
      // unless a QEMU somehow runs there (then keep everything for a human to look at).
      const paths = pathsFor(this.ctx, id, state.sockDir);
      const pid = await readPidFile(paths.pidFile);
      if (pid && pidAlive(pid) && isQemuWithPidfile(pid, paths.pidFile))
        throw new Error("QEMU running without spec.json");
      this.ctx.log("removing incomplete VM directory", { id });
      await releasePorts(this.ctx, id, state);
      await removeVmDirs(paths);
      return;
    }
    const vm: Vm = {
      id,
      spec,
      state,
      paths: pathsFor(this.ctx, id, state.sockDir),
      pid: null,
      qmp: null,
      qmpConnecting: null,
      transition: null,
      error: state.lastError,
      forceRequested: false,
    };
    this.vms.set(id, vm);
    await resecurePorts(this.ctx, vm);
    const pid = await readPidFile(vm.paths.pidFile);
    if (pid && pidAlive(pid) && isQemuWithPidfile(pid, vm.paths.pidFile)) {
      vm.pid = pid;
      vm.error = undefined;
      const qmp = await ensureQmp(this.ctx, vm, 5_000);
      this.ctx.log("re-attached to running VM", { id, pid, qmp: Boolean(qmp) });
    } else {
      await clearRuntimeFiles(vm);
    }
  }

  private ensureOpen(): void {
    if (this.closed) throw new AgentError("unavailable", "the VM manager is shutting down");
  }

  /** Serialises operations per VM id (also for ids that do not exist yet). */
  private async withLock<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const run = prev.catch(() => {}).then(fn);
    const tail = run.catch(() => {});
    this.locks.set(id, tail);
    try {
      return await run;
    } finally {
      if (this.locks.get(id) === tail) this.locks.delete(id);
    }
  }

  private getVm(id: string): Vm {
    const vm = this.vms.get(id);
    if (!vm) throw new AgentError("not_found", `no VM ${id} on this host`);
    return vm;
  }

  // ------------------------------------------------------------------------------------------
  // Reading

  async list(): Promise<VmStatus[]> {
    await this.init();
    return Promise.all([...this.vms.values()].map((vm) => statusOf(this.ctx, vm)));
  }

  async get(id: string): Promise<VmStatus> {
    await this.init();
    return statusOf(this.ctx, this.getVm(id));
  }

  /**
   * image id -> VMs whose spec boots from it (their overlays' backing files are in the image
   * cache) or has it in the CD drive, including creates in progress: from the download until the
   * VM exists.
   */
  async imageUsers(): Promise<Map<string, Array<{ id: string; name: string }>>> {
    await this.init();
    const out = new Map<string, Array<{ id: string; name: string }>>();
    const specs: Array<[string, VmSpec]> = [
      ...[...this.vms.values()].map((vm): [string, VmSpec] => [vm.id, vm.spec]),
      ...this.creating,
    ];
    const add = (imageId: string, id: string, name: string) => {
      const list = out.get(imageId) ?? [];
      if (!list.some((v) => v.id === id)) list.push({ id, name });
      out.set(imageId, list);
    };
    for (const [id, spec] of specs) {
      // An ISO install's image is needed only while it is in the CD drive (its disk has no backing file).
      if (spec.boot.type !== "iso") add(spec.boot.imageId, id, spec.name);
      if (spec.cdrom) add(spec.cdrom.imageId, id, spec.name);
    }
    return out;
  }

  private async whileCreating<T>(id: string, spec: VmSpec, fn: () => Promise<T>): Promise<T> {
    this.creating.set(id, spec);
    try {
      return await fn();
    } finally {
      this.creating.delete(id);
    }
  }

  /** The persisted spec, or null when the VM does not exist. */
  async getSpec(id: string): Promise<VmSpec | null> {
    await this.init();
    return this.vms.get(id)?.spec ?? null;
  }

  /** Serial console socket/log and QMP socket (for a console proxy). */
  async consolePaths(id: string): Promise<VmConsolePaths> {
    await this.init();
    const vm = this.getVm(id);
    return {
      serialSocket: vm.paths.serial,
      serialLog: vm.paths.serialLog,
      qmpSocket: vm.paths.qmp,
      vncSocket: hasDisplay(specDisplay(vm.spec)) ? vm.paths.vnc : null,
    };
  }

  // ------------------------------------------------------------------------------------------
  // apply (PUT /v1/vms/:id)

  /**
   * Creates or updates a VM to match `input`. Idempotent: the same spec again does nothing.
   * Validates before any side effect; a failed create removes everything it made.
   */
  async apply(id: string, input: VmSpec | VmSpecInput, onStep?: StepListener): Promise<ApplyResult> {
    this.ensureOpen();
    await this.init();
    const idCheck = safeIdSchema.safeParse(id);
    if (!idCheck.success) throw new AgentError("invalid", `invalid VM id: ${zodMessage(idCheck.error.issues)}`);
    const parsed = vmSpecSchema.safeParse(input);
    if (!parsed.success) throw new AgentError("invalid", zodMessage(parsed.error.issues));
    const spec = parsed.data;
    const plan = validateSpec(spec, this.ctx.limits);
    // cloud-init: render once to refuse bad hostnames/keys/user-data before any side effect.
    if (spec.cloudInit) renderSeed(id, { nics: spec.nics, cloudInit: spec.cloudInit });
    if (spec.nics.length > 0 && !this.opts.network) {
      throw new AgentError(
        "conflict",
        "this agent has no network driver (Open vSwitch unavailable): VMs with NICs cannot be created",
      );
    }
    return this.withLock(id, async () => {
      this.ensureOpen();
      const existing = this.vms.get(id);
      if (existing?.migration)
        throw new AgentError(
          "conflict",
          `VM ${id} is migrating (${existing.migration.role}); its spec changes after the move`,
        );
      const run = async () => {
        if (!existing)
          return this.whileCreating(id, spec, () => createVm(this.ctx, this.vms, id, spec, plan, stepReporter(onStep)));
        return updateVm(this.ctx, existing, spec);
      };
      const added = spec.volumes.map((v) => v.id).filter((v) => !existing?.spec.volumes.some((o) => o.id === v));
      const removed = existing?.spec.volumes.some((o) => !spec.volumes.some((v) => v.id === o.id)) ?? false;
      if (added.length === 0 && !removed) return run();
      // Attachment changes hold the volumes lock: a volume is checked free and taken in one step.
      return this.withLock(VOLUMES_LOCK, async () => {
        await this.checkAttachable(id, added);
        return run();
      });
    });
  }

  /** Volumes a VM spec adds must exist here and be attached to no other VM (attachment is exclusive). */
  private async checkAttachable(vmId: string, volumeIds: string[]): Promise<void> {
    for (const volumeId of volumeIds) {
      if (!(await this.ctx.volumes.exists(volumeId)))
        throw new AgentError("not_found", `volume ${volumeId} does not exist on this host; create it here first`);
      const other = this.attachedTo(volumeId);
      if (other !== null && other !== vmId)
        throw new AgentError("conflict", `volume ${volumeId} is attached to VM ${other}; detach it there first`);
    }
  }

  /** The VM whose spec lists the volume (creates in progress included), or null. */
  private attachedTo(volumeId: string): string | null {
    for (const [vmId, spec] of [
      ...[...this.vms.values()].map((vm): [string, VmSpec] => [vm.id, vm.spec]),
      ...this.creating,
    ]) {
      if (spec.volumes.some((v) => v.id === volumeId)) return vmId;
    }
    return null;
  }

  // ------------------------------------------------------------------------------------------
  // Power

  /** start | stop (ACPI, then forced after the stop timeout) | reboot (hard reset) | poweroff (immediate). */
  async action(id: string, action: VmAction): Promise<VmStatus> {
    this.ensureOpen();
    await this.init();
    const vm = this.getVm(id);
    if (action === "poweroff") {
      // Outside the lock: a graceful stop in progress must not delay a forced power-off.
      vm.forceRequested = true;
      await killNow(this.ctx, vm);
    }
    return this.withLock(id, async () => {
      this.ensureOpen();
      if (this.vms.get(id) !== vm) throw new AgentError("not_found", `no VM ${id} on this host`);
      switch (action) {
        case "start":
          await this.setDesired(vm, "running");
          await startVm(this.ctx, vm);
          break;
        case "stop":
          await this.setDesired(vm, "stopped");
          await gracefulStop(this.ctx, vm);
          vm.error = undefined;
          break;
        case "poweroff":
          await this.setDesired(vm, "stopped");
          await killNow(this.ctx, vm);
          vm.error = undefined;
          break;
        case "reboot": {
          const q = vm.pid !== null && pidAlive(vm.pid) ? await ensureQmp(this.ctx, vm, 5_000) : null;
          if (!q) throw new AgentError("conflict", `VM ${id} is not running`);
          await q.systemReset();
          break;
        }
        default:
          throw new AgentError("invalid", `unknown action ${String(action)}`);
      }
      return statusOf(this.ctx, vm);
    });
  }

  /** Actions update the persisted desired state so a later PUT of the other state converges. */
  private async setDesired(vm: Vm, powerState: VmSpec["powerState"]): Promise<void> {
    if (vm.spec.powerState === powerState) return;
    vm.spec = { ...vm.spec, powerState };
    await saveSpec(vm);
  }

  // ------------------------------------------------------------------------------------------
  // data volumes (volumes.ts: the files; volume-attach.ts: inside VMs)

  async listVolumes(): Promise<AgentVolume[]> {
    await this.init();
    const out: AgentVolume[] = [];
    for (const id of await this.ctx.volumes.ids()) {
      const info = await this.ctx.volumes.info(id).catch(() => null);
      if (info) out.push({ ...info, attachedTo: this.attachedTo(id) });
    }
    return out;
  }

  async getVolume(id: string): Promise<AgentVolume> {
    await this.init();
    return { ...(await this.ctx.volumes.info(id)), attachedTo: this.attachedTo(id) };
  }

  /**
   * PUT /v1/volumes/:id: creates the volume, or grows it (online when its VM runs). Shrinking is
   * refused; the same size again changes nothing. `created` tells 201 from 200.
   */
  async putVolume(id: string, input: VolumeSpec): Promise<{ created: boolean; volume: AgentVolume }> {
    this.ensureOpen();
    await this.init();
    const idCheck = safeIdSchema.safeParse(id);
    if (!idCheck.success) throw new AgentError("invalid", `invalid volume id: ${zodMessage(idCheck.error.issues)}`);
    const parsed = volumeSpecSchema.safeParse(input);
    if (!parsed.success) throw new AgentError("invalid", zodMessage(parsed.error.issues));
    const spec = parsed.data;
    const exists = await this.withLock(VOLUMES_LOCK, () => this.ctx.volumes.exists(id));
    let created = false;
    if (!exists) {
      // Built outside the lock (a copy of a big image takes minutes), placed under it.
      created = await this.ctx.volumes.create(id, spec, (place) => this.withLock(VOLUMES_LOCK, place));
      if (created) this.ctx.log("volume created", { volumeId: id, sizeGb: spec.sizeGb, source: spec.source?.imageId });
    }
    if (!created) await this.withLock(VOLUMES_LOCK, () => this.growVolume(id, spec.sizeGb));
    return { created, volume: await this.getVolume(id) };
  }

  private async growVolume(id: string, sizeGb: number): Promise<void> {
    const { sizeGb: have } = await this.ctx.volumes.info(id);
    if (sizeGb < have)
      throw new AgentError("conflict", `volume ${id} is ${have} GiB; a volume can only grow (asked for ${sizeGb} GiB)`);
    if (sizeGb === have) return;
    const vmId = this.attachedTo(id);
    const vm = vmId ? this.vms.get(vmId) : undefined;
    const node = vm ? volumeNode(vm, id) : null;
    const q = vm && node && vm.pid !== null && pidAlive(vm.pid) ? await ensureQmp(this.ctx, vm, 5_000) : null;
    if (q && node) {
      // The guest sees the new size at once (virtio-blk config change).
      await q.blockResize(node, gbToBytes(sizeGb)).catch((err: unknown) => {
        throw new AgentError("unavailable", `could not grow volume ${id} in VM ${vmId}: ${errMessage(err)}`);
      });
    } else await this.ctx.volumes.growOffline(id, sizeGb);
    this.ctx.log("volume grown", { volumeId: id, sizeGb, online: Boolean(q) });
  }

  /** DELETE /v1/volumes/:id: refused while a VM's spec lists it. VM deletes never remove volumes. */
  async deleteVolume(id: string): Promise<void> {
    this.ensureOpen();
    await this.init();
    await this.withLock(VOLUMES_LOCK, async () => {
      const vmId = this.attachedTo(id);
      if (vmId !== null) throw new AgentError("conflict", `volume ${id} is attached to VM ${vmId}; detach it first`);
      const freed = await this.ctx.volumes.remove(id);
      this.ctx.log("volume deleted", { volumeId: id, freedBytes: freed });
    });
  }

  // ------------------------------------------------------------------------------------------
  // snapshots and disk export (snapshots.ts, disk-export.ts), serialised with every other change

  async snapshots(id: string): Promise<AgentSnapshot[]> {
    await this.init();
    return this.withLock(id, () => listSnapshots(this.ctx, this.getVm(id)));
  }

  async createSnapshot(id: string, input: { id: string; memory: boolean }): Promise<AgentSnapshot> {
    this.ensureOpen();
    await this.init();
    return this.withLock(id, () => createSnapshot(this.ctx, this.getVm(id), input));
  }

  async revertSnapshot(id: string, snapshotId: string): Promise<VmStatus> {
    this.ensureOpen();
    await this.init();
    return this.withLock(id, async () => {
      const vm = this.getVm(id);
      await revertSnapshot(this.ctx, vm, snapshotId);
      this.ctx.changed(vm);
      return statusOf(this.ctx, vm);
    });
  }

  async deleteSnapshot(id: string, snapshotId: string): Promise<void> {
    this.ensureOpen();
    await this.init();
    await this.withLock(id, () => deleteSnapshot(this.ctx, this.getVm(id), snapshotId));
  }

  /** A flattened copy of the root disk in a temporary file; the caller streams it, then cleanup(). */
  async exportDisk(id: string, opts: { snapshotId?: string }): Promise<ExportedDisk> {
    this.ensureOpen();
    await this.init();
    return this.withLock(id, () => exportDisk(this.ctx, this.getVm(id), opts));
  }

  // ------------------------------------------------------------------------------------------
  // delete

  /** Kills QEMU and removes overlay, vars, sockets, logs, network ports and the VM directory. */
  async delete(id: string): Promise<void> {
    this.ensureOpen();
    await this.init();
    const vm = this.getVm(id);
    vm.forceRequested = true;
    await killNow(this.ctx, vm);
    await this.withLock(id, async () => {
      if (this.vms.get(id) !== vm) throw new AgentError("not_found", `no VM ${id} on this host`);
      await killNow(this.ctx, vm);
      // Ports first: if OVS refuses, keep the VM (and its record of taps) so a retry can finish.
      await releasePorts(this.ctx, id, vm.state).finally(() => saveState(vm).catch(() => {}));
      this.vms.delete(id);
      await removeVmDirs(vm.paths);
      this.ctx.log("vm deleted", { id });
      this.emit("change", { id, deleted: true });
    });
  }

  /**
   * Heartbeat `evict` (evict.ts): a copy older than `generation` is killed and quarantined (never
   * deleted); an equal or newer one is left alone. Returns the quarantine dir, or null.
   */
  async evict(id: string, generation: number): Promise<string | null> {
    this.ensureOpen();
    await this.init();
    const vm = this.vms.get(id);
    if (vm && isStale(vm, generation)) vm.forceRequested = true; // a pending graceful stop gives way
    return this.withLock(id, async () => {
      const cur = this.vms.get(id);
      if (!cur || !isStale(cur, generation)) {
        this.ctx.log("evict ignored", { id, generation, local: cur ? localGeneration(cur) : null });
        return null;
      }
      const dest = await evictVm(this.ctx, cur, generation, () => this.vms.delete(id));
      this.emit("change", { id, deleted: true });
      return dest;
    });
  }

  // ------------------------------------------------------------------------------------------

  /** Detaches from every QMP socket; VMs keep running. The manager is unusable afterwards. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.initPromise?.catch(() => {});
    await Promise.all(
      [...this.vms.values()].map(async (vm) => {
        const q = vm.qmp;
        vm.qmp = null;
        vm.child?.removeAllListeners("exit");
        await q?.close().catch(() => {});
      }),
    );
    this.removeAllListeners();
  }
}
