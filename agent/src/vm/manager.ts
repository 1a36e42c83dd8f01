// VmManager: desired VM specs in, detached QEMU processes out. Per-VM state lives in
// <stateDir>/vms/<id>/ so a restarted agent finds, re-attaches to and reports every QEMU it left
// running — and never starts a second one for the same VM.
import { spawn, type ChildProcess } from "node:child_process";
import { EventEmitter } from "node:events";
import { constants as fsc, promises as fsp, openSync, closeSync, existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Arch } from "../../../lib/arch";
import { hasDisplay } from "../../../lib/display";
import { safeIdSchema, type VmAction, type VmCreateStep, type VmSpec, type VmSpecInput, vmSpecSchema, type VmStatus, type VmStepEvent } from "../../../lib/schemas/agent-api";
import { type Accel, buildQemuArgs, createQcow2, gbToBytes, type ImageFormat, imageInfo, type QemuBoot, type QemuNic, QmpClient, resizeImage } from "../qemu";
import { ensureSeedIso, renderSeed } from "./cloud-init";
import { AgentError } from "./errors";
import {
  isQemuWithPidfile,
  pidAlive,
  processUsage,
  readPidFile,
  sleep,
  socketDirFor,
  socketPathFits,
  sparseCopy,
  waitForExit,
  writeFileAtomic,
} from "./proc";
import { type HostLimits, type LaunchPlan, specDisplay, validateSpec } from "./validate";

export type NicSpec = VmSpec["nics"][number];
export type BootSpec = VmSpec["boot"];

export interface ResolvedImage {
  disk?: string;
  kernel?: string;
  initrd?: string;
}

/** Network driver (OVS): creates a tap attached to the bridge with the NIC's VLAN. */
export interface VmNetwork {
  addPort(vmId: string, nic: NicSpec): Promise<string>;
  removePort(vmId: string, nic: NicSpec, tap: string): Promise<void>;
}

export interface VmManagerOptions {
  stateDir: string;
  hostArch: Arch;
  kvm: boolean;
  /** qemu-system binary per guest arch, e.g. { x86_64: "/usr/bin/qemu-system-x86_64" } */
  qemuBinaries: Record<string, string>;
  /** UEFI firmware keyed `<arch>-code` / `<arch>-vars` (as detected by agent/src/host/facts.ts) */
  firmware: Record<string, string>;
  /** absolute paths of the boot media in the image cache (downloading them if needed) */
  resolveImage: (boot: BootSpec) => Promise<ResolvedImage>;
  network?: VmNetwork;
  log?: (msg: string, ctx?: Record<string, unknown>) => void;
  /** defaults: CPUs and memory of this machine */
  hostLimits?: Partial<Pick<HostLimits, "cpuCount" | "memoryMb">>;
  /** ACPI stop: how long the guest gets before QEMU is quit (default 60 s) */
  stopTimeoutMs?: number;
  /** QEMU must answer on QMP within this after spawn (default 30 s) */
  startTimeoutMs?: number;
  /** qemu-img binary (default from PATH) */
  qemuImg?: string;
  /** base for socket dirs when <stateDir> is too long for sun_path (default /run/polyarch or tmp) */
  socketBaseDir?: string;
  /** QEMU seccomp sandbox (default on) */
  sandbox?: boolean;
  /** genisoimage binary for cloud-init seeds (default from PATH) */
  genisoimage?: string;
}

export interface ApplyResult {
  created: boolean;
  /** false when the same spec was applied again: nothing was done */
  changed: boolean;
  status: VmStatus;
}

export interface VmConsolePaths {
  serialSocket: string;
  serialLog: string;
  qmpSocket: string;
  /** QEMU's VNC server; null when the VM has no graphical display */
  vncSocket: string | null;
}

/** state.json: what the agent created for a VM, so it can be found and removed after a restart. */
interface VmRuntimeState {
  version: 1;
  sockDir: string;
  /** tap per NIC id, recorded as soon as the port exists */
  taps: Record<string, string>;
  /** NIC spec each tap was created for (to detect changes) */
  nicSpecs: Record<string, NicSpec>;
  accel?: Accel;
  emulated?: boolean;
  resolved?: ResolvedImage;
  lastError?: string;
}

interface VmPaths {
  dir: string;
  spec: string;
  state: string;
  pidFile: string;
  disk: string;
  vars: string;
  serialLog: string;
  qemuLog: string;
  argvFile: string;
  sockDir: string;
  qmp: string;
  serial: string;
  vnc: string;
}

interface Vm {
  id: string;
  spec: VmSpec;
  state: VmRuntimeState;
  paths: VmPaths;
  pid: number | null;
  qmp: QmpClient | null;
  qmpConnecting: Promise<QmpClient | null> | null;
  lastQmpStatus?: string;
  transition: "starting" | "stopping" | null;
  error?: string;
  child?: ChildProcess;
  /** set by poweroff/delete so a pending graceful stop gives up waiting */
  forceRequested: boolean;
}

const DEFAULT_STOP_TIMEOUT_MS = 60_000;
const DEFAULT_START_TIMEOUT_MS = 30_000;
const SPEC_FILE = "spec.json";

/** Stable JSON (sorted keys) to compare specs. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function zodMessage(issues: ReadonlyArray<{ path: PropertyKey[]; message: string }>): string {
  return issues
    .slice(0, 5)
    .map((i) => (i.path.length ? `${i.path.map(String).join(".")}: ${i.message}` : i.message))
    .join("; ");
}

async function rmQuiet(p: string): Promise<void> {
  await fsp.rm(p, { force: true, recursive: true }).catch(() => {});
}

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
  private readonly vmsDir: string;
  private readonly limits: HostLimits;
  private readonly stopTimeoutMs: number;
  private readonly startTimeoutMs: number;
  private initPromise: Promise<void> | null = null;
  private closed = false;

  constructor(private readonly opts: VmManagerOptions) {
    super();
    this.vmsDir = path.join(path.resolve(opts.stateDir), "vms");
    this.limits = {
      hostArch: opts.hostArch,
      kvm: opts.kvm,
      cpuCount: opts.hostLimits?.cpuCount ?? (os.availableParallelism?.() ?? os.cpus().length),
      memoryMb: opts.hostLimits?.memoryMb ?? Math.floor(os.totalmem() / 1024 / 1024),
      binaries: opts.qemuBinaries,
      firmware: opts.firmware,
    };
    this.stopTimeoutMs = opts.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS;
    this.startTimeoutMs = opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  }

  private log(msg: string, ctx?: Record<string, unknown>): void {
    this.opts.log?.(msg, ctx);
  }

  // ------------------------------------------------------------------------------------------
  // Start-up: find what a previous agent left behind.

  /** Scans <stateDir>/vms, re-attaches to live QEMUs, marks dead ones shutoff. Idempotent. */
  init(): Promise<void> {
    this.initPromise ??= this.doInit();
    return this.initPromise;
  }

  private async doInit(): Promise<void> {
    await fsp.mkdir(this.vmsDir, { recursive: true, mode: 0o700 });
    const entries = await fsp.readdir(this.vmsDir, { withFileTypes: true });
    for (const ent of entries) {
      if (!ent.isDirectory() || !safeIdSchema.safeParse(ent.name).success) continue;
      try {
        await this.loadVm(ent.name);
      } catch (err) {
        this.log("vm state unreadable; leaving it alone", { id: ent.name, error: errMessage(err) });
      }
    }
  }

  private async loadVm(id: string): Promise<void> {
    const dir = path.join(this.vmsDir, id);
    const specRaw = await fsp.readFile(path.join(dir, SPEC_FILE), "utf8").catch(() => null);
    const state = await this.readState(dir, id);
    if (specRaw === null) {
      // spec.json is written last on create: without it the agent died mid-create. Undo it,
      // unless a QEMU somehow runs there (then keep everything for a human to look at).
      const paths = this.pathsFor(id, state.sockDir);
      const pid = await readPidFile(paths.pidFile);
      if (pid && pidAlive(pid) && isQemuWithPidfile(pid, paths.pidFile)) throw new Error("QEMU running without spec.json");
      this.log("removing incomplete VM directory", { id });
      await this.releasePorts(id, state);
      await rmQuiet(dir);
      if (paths.sockDir !== dir) await rmQuiet(paths.sockDir);
      return;
    }
    const parsed = vmSpecSchema.safeParse(JSON.parse(specRaw));
    if (!parsed.success) throw new Error(`spec.json invalid: ${zodMessage(parsed.error.issues)}`);
    const vm: Vm = {
      id,
      spec: parsed.data,
      state,
      paths: this.pathsFor(id, state.sockDir),
      pid: null,
      qmp: null,
      qmpConnecting: null,
      transition: null,
      error: state.lastError,
      forceRequested: false,
    };
    this.vms.set(id, vm);
    const pid = await readPidFile(vm.paths.pidFile);
    if (pid && pidAlive(pid) && isQemuWithPidfile(pid, vm.paths.pidFile)) {
      vm.pid = pid;
      vm.error = undefined;
      const qmp = await this.ensureQmp(vm, 5_000);
      this.log("re-attached to running VM", { id, pid, qmp: Boolean(qmp) });
    } else {
      await this.clearRuntimeFiles(vm);
    }
  }

  private async readState(dir: string, id: string): Promise<VmRuntimeState> {
    try {
      const s = JSON.parse(await fsp.readFile(path.join(dir, "state.json"), "utf8")) as Partial<VmRuntimeState>;
      return {
        version: 1,
        sockDir: typeof s.sockDir === "string" ? s.sockDir : this.sockDirFor(id),
        taps: s.taps ?? {},
        nicSpecs: s.nicSpecs ?? {},
        accel: s.accel,
        emulated: s.emulated,
        resolved: s.resolved,
        lastError: s.lastError,
      };
    } catch {
      return { version: 1, sockDir: this.sockDirFor(id), taps: {}, nicSpecs: {} };
    }
  }

  private sockDirFor(id: string): string {
    return socketDirFor(path.join(this.vmsDir, id), this.opts.stateDir, id, this.opts.socketBaseDir);
  }

  private pathsFor(id: string, sockDir: string): VmPaths {
    const dir = path.join(this.vmsDir, id);
    return {
      dir,
      spec: path.join(dir, SPEC_FILE),
      state: path.join(dir, "state.json"),
      pidFile: path.join(dir, "qemu.pid"),
      disk: path.join(dir, "disk.qcow2"),
      vars: path.join(dir, "vars.fd"),
      serialLog: path.join(dir, "serial.log"),
      qemuLog: path.join(dir, "qemu.log"),
      argvFile: path.join(dir, "qemu.argv.json"),
      sockDir,
      qmp: path.join(sockDir, "qmp.sock"),
      serial: path.join(sockDir, "serial.sock"),
      vnc: path.join(sockDir, "vnc.sock"),
    };
  }

  private async saveState(vm: Pick<Vm, "state" | "paths">): Promise<void> {
    await writeFileAtomic(vm.paths.state, JSON.stringify(vm.state, null, 2) + "\n");
  }

  private async saveSpec(vm: Vm): Promise<void> {
    await writeFileAtomic(vm.paths.spec, JSON.stringify(vm.spec, null, 2) + "\n");
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

  private changed(vm: Vm): void {
    this.emit("change", { id: vm.id });
  }

  // ------------------------------------------------------------------------------------------
  // Reading

  async list(): Promise<VmStatus[]> {
    await this.init();
    return Promise.all([...this.vms.values()].map((vm) => this.statusOf(vm)));
  }

  async get(id: string): Promise<VmStatus> {
    await this.init();
    return this.statusOf(this.getVm(id));
  }

  /**
   * image id -> VMs whose spec boots from it (their overlays' backing files are in the image
   * cache), including creates in progress: from the download until the VM exists.
   */
  async imageUsers(): Promise<Map<string, Array<{ id: string; name: string }>>> {
    await this.init();
    const out = new Map<string, Array<{ id: string; name: string }>>();
    const specs: Array<[string, VmSpec]> = [...[...this.vms.values()].map((vm): [string, VmSpec] => [vm.id, vm.spec]), ...this.creating];
    for (const [id, spec] of specs) {
      const list = out.get(spec.boot.imageId) ?? [];
      if (!list.some((v) => v.id === id)) list.push({ id, name: spec.name });
      out.set(spec.boot.imageId, list);
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
    return { serialSocket: vm.paths.serial, serialLog: vm.paths.serialLog, qmpSocket: vm.paths.qmp, vncSocket: hasDisplay(specDisplay(vm.spec)) ? vm.paths.vnc : null };
  }

  private async statusOf(vm: Vm): Promise<VmStatus> {
    const plan = this.planOrNull(vm.spec);
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
    } satisfies Partial<VmStatus>;
    if (vm.pid !== null && !pidAlive(vm.pid)) await this.onProcessGone(vm);
    if (vm.pid === null) {
      if (vm.transition === "starting") return { ...base, powerState: "starting" };
      return vm.error ? { ...base, powerState: "error", error: vm.error } : { ...base, powerState: "shutoff" };
    }
    const pid = vm.pid;
    const usage = processUsage(pid);
    const qmp = vm.transition === "starting" ? vm.qmp : await this.ensureQmp(vm, 1_000);
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

  private planOrNull(spec: VmSpec): LaunchPlan | null {
    try {
      return validateSpec(spec, this.limits);
    } catch {
      return null;
    }
  }

  // ------------------------------------------------------------------------------------------
  // QMP attachment

  /** Connected QMP client for a live VM (connects if needed), or null when unreachable. */
  private ensureQmp(vm: Vm, timeoutMs: number): Promise<QmpClient | null> {
    if (vm.qmp && !vm.qmp.closed) return Promise.resolve(vm.qmp);
    if (this.closed || vm.pid === null) return Promise.resolve(null);
    vm.qmpConnecting ??= (async () => {
      try {
        const client = await QmpClient.connect(vm.paths.qmp, { connectTimeoutMs: timeoutMs });
        if (this.closed) {
          await client.close();
          return null;
        }
        this.attachQmp(vm, client);
        return client;
      } catch (err) {
        this.log("QMP connect failed", { id: vm.id, error: errMessage(err) });
        return null;
      } finally {
        vm.qmpConnecting = null;
      }
    })();
    return vm.qmpConnecting;
  }

  private attachQmp(vm: Vm, client: QmpClient): void {
    vm.qmp = client;
    client.on("event", (ev: { event: string }) => {
      this.log("qmp event", { id: vm.id, event: ev.event });
      if (ev.event === "STOP") vm.lastQmpStatus = "paused";
      if (ev.event === "RESUME") vm.lastQmpStatus = "running";
      this.changed(vm);
    });
    const pid = vm.pid;
    client.on("close", () => {
      if (vm.qmp === client) vm.qmp = null;
      // QMP closing while we did not close it means QEMU exited (or is exiting).
      if (!this.closed && pid !== null && vm.pid === pid) {
        void waitForExit(pid, 2_000).then(async (gone) => {
          if (gone && vm.pid === pid) await this.onProcessGone(vm);
        });
      }
    });
  }

  /** QEMU is gone: forget the pid, remove the sockets and pidfile. */
  private async onProcessGone(vm: Vm): Promise<void> {
    if (vm.pid === null) return;
    const pid = vm.pid;
    vm.pid = null;
    vm.lastQmpStatus = undefined;
    if (vm.qmp) {
      const q = vm.qmp;
      vm.qmp = null;
      await q.close().catch(() => {});
    }
    await this.clearRuntimeFiles(vm);
    this.log("QEMU exited", { id: vm.id, pid });
    this.changed(vm);
  }

  private async clearRuntimeFiles(vm: Vm): Promise<void> {
    await Promise.all([vm.paths.qmp, vm.paths.serial, vm.paths.pidFile].map((p) => fsp.rm(p, { force: true }).catch(() => {})));
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
    const plan = validateSpec(spec, this.limits);
    // cloud-init: render once to refuse bad hostnames/keys/user-data before any side effect.
    if (spec.cloudInit) renderSeed(id, { nics: spec.nics, cloudInit: spec.cloudInit });
    if (spec.nics.length > 0 && !this.opts.network) {
      throw new AgentError("conflict", "this agent has no network driver (Open vSwitch unavailable): VMs with NICs cannot be created");
    }
    return this.withLock(id, async () => {
      this.ensureOpen();
      const existing = this.vms.get(id);
      if (!existing) return this.whileCreating(id, spec, () => this.create(id, spec, plan, stepReporter(onStep)));
      return this.update(existing, spec);
    });
  }

  private async create(id: string, spec: VmSpec, plan: LaunchPlan, step: StepReporter): Promise<ApplyResult> {
    // Resolve and inspect the media before touching anything.
    const resolved = await step.run("image ready", async () => {
      const r = await this.resolveMedia(spec);
      return { value: r, message: `image ${spec.boot.imageId} verified in the host cache` };
    });
    const base = await this.inspectBase(spec, resolved).catch((err) => step.fail("image ready", err));

    const dir = path.join(this.vmsDir, id);
    const sockDir = this.sockDirFor(id);
    const paths = this.pathsFor(id, sockDir);
    if (!socketPathFits(paths.qmp) || !socketPathFits(paths.serial)) {
      throw new AgentError("unavailable", `socket path too long: ${paths.serial}`);
    }
    if (existsSync(dir)) {
      // Not in the map but on disk: an unreadable earlier VM. Do not overwrite someone's disk.
      throw new AgentError("conflict", `state directory for VM ${id} exists but could not be loaded; inspect ${dir}`);
    }
    const vm: Vm = {
      id,
      spec,
      state: { version: 1, sockDir, taps: {}, nicSpecs: {}, accel: plan.accel, emulated: plan.emulated, resolved },
      paths,
      pid: null,
      qmp: null,
      qmpConnecting: null,
      transition: null,
      forceRequested: false,
    };
    try {
      await fsp.mkdir(dir, { mode: 0o700 });
      if (sockDir !== dir) await fsp.mkdir(sockDir, { recursive: true, mode: 0o700 });
      await this.saveState(vm);
      await step.run("disk", async () => {
        if (base) {
          await createQcow2(paths.disk, { base: base.path, baseFormat: base.format, sizeGb: spec.diskGb, qemuImg: this.opts.qemuImg });
        } else {
          await createQcow2(paths.disk, { sizeGb: spec.diskGb, qemuImg: this.opts.qemuImg });
        }
        if (plan.uefi) await sparseCopy(plan.uefi.varsTemplate, paths.vars);
        return { value: undefined, message: `${spec.diskGb} GiB qcow2${base ? ` over the ${base.format} image` : ", empty"}${plan.uefi ? ", UEFI vars" : ""}` };
      });
      if (spec.nics.length === 0) step.emit("network", "skipped", "no NICs");
      else {
        await step.run("network", async () => {
          for (const nic of spec.nics) await this.addPort(vm, nic);
          return { value: undefined, message: `${spec.nics.length} OVS port${spec.nics.length === 1 ? "" : "s"}` };
        });
      }
      // spec.json last: its presence marks a complete VM for init().
      await this.saveSpec(vm);
      this.vms.set(id, vm);
      if (spec.powerState === "running") {
        await step.run("starting", async () => {
          await this.start(vm);
          return { value: undefined, message: `${plan.accel === "kvm" ? "KVM" : "TCG (emulated)"}, pid ${vm.pid ?? "?"}` };
        });
      } else {
        step.emit("starting", "skipped", "created stopped");
        step.emit("running", "skipped", "created stopped");
      }
    } catch (err) {
      this.log("create failed; cleaning up", { id, error: errMessage(err) });
      this.vms.delete(id);
      await this.killNow(vm).catch(() => {});
      await this.releasePorts(id, vm.state).catch(() => {});
      await rmQuiet(dir);
      if (sockDir !== dir) await rmQuiet(sockDir);
      throw toAgentError(err, `could not create VM ${id}`);
    }
    this.log("vm created", { id, arch: spec.arch, accel: plan.accel });
    const status = await this.statusOf(vm);
    if (spec.powerState === "running") {
      // QEMU is up; "running" is what QMP says, not what we hope.
      if (status.powerState === "running") step.emit("running", "succeeded", status.qmpStatus ? `QMP status ${status.qmpStatus}` : undefined);
      else step.emit("running", "running", `power state ${status.powerState}`);
    }
    return { created: true, changed: true, status };
  }

  private async resolveMedia(spec: VmSpec): Promise<ResolvedImage> {
    let resolved: ResolvedImage;
    try {
      resolved = await this.opts.resolveImage(spec.boot);
    } catch (err) {
      throw toAgentError(err, `image ${spec.boot.imageId} is not available on this host`, "unavailable");
    }
    const need = spec.boot.type === "disk" ? (["disk"] as const) : (["kernel"] as const);
    for (const key of need) {
      if (!resolved[key]) throw new AgentError("unavailable", `image ${spec.boot.imageId} has no ${key} file`);
    }
    for (const key of ["disk", "kernel", "initrd"] as const) {
      const p = resolved[key];
      if (p === undefined) continue;
      if (!path.isAbsolute(p)) throw new AgentError("unavailable", `image ${spec.boot.imageId}: ${key} path is not absolute`);
      try {
        await fsp.access(p, fsc.R_OK);
      } catch {
        throw new AgentError("unavailable", `image ${spec.boot.imageId}: ${key} file ${p} is missing`);
      }
    }
    return resolved;
  }

  /** Backing image and its format, checked against diskGb. Null = blank data disk. */
  private async inspectBase(spec: VmSpec, resolved: ResolvedImage): Promise<{ path: string; format: ImageFormat } | null> {
    if (!resolved.disk) return null;
    // Disk images declare their format; a kernel image's optional disk is probed but must be qcow2/raw.
    const declared = spec.boot.type === "disk" ? spec.boot.format : undefined;
    let info;
    try {
      info = await imageInfo(resolved.disk, { format: declared, forceShare: true, qemuImg: this.opts.qemuImg });
    } catch (err) {
      throw new AgentError("unavailable", `image ${spec.boot.imageId} is unreadable: ${errMessage(err)}`);
    }
    const format = (declared ?? info.format) as string;
    if (format !== "qcow2" && format !== "raw") throw new AgentError("invalid", `image ${spec.boot.imageId} has unsupported format ${format}`);
    if (info["virtual-size"] > gbToBytes(spec.diskGb)) {
      const gb = Math.ceil(info["virtual-size"] / gbToBytes(1));
      throw new AgentError("invalid", `image ${spec.boot.imageId} needs a ${gb} GiB disk; diskGb is ${spec.diskGb}`);
    }
    return { path: resolved.disk, format };
  }

  private async addPort(vm: Vm, nic: NicSpec): Promise<void> {
    if (!this.opts.network) throw new AgentError("conflict", "this agent has no network driver");
    const tap = await this.opts.network.addPort(vm.id, nic);
    vm.state.taps[nic.id] = tap;
    vm.state.nicSpecs[nic.id] = nic;
    await this.saveState(vm);
  }

  private async releasePorts(id: string, state: VmRuntimeState): Promise<void> {
    const errors: string[] = [];
    for (const [nicId, tap] of Object.entries(state.taps)) {
      const nic = state.nicSpecs[nicId] ?? { id: nicId, mac: "00:00:00:00:00:00", vlan: 0 };
      try {
        await this.opts.network?.removePort(id, nic, tap);
        delete state.taps[nicId];
        delete state.nicSpecs[nicId];
      } catch (err) {
        errors.push(`${tap}: ${errMessage(err)}`);
      }
    }
    if (errors.length) throw new AgentError("unavailable", `could not remove network ports: ${errors.join("; ")}`);
  }

  private async update(vm: Vm, spec: VmSpec): Promise<ApplyResult> {
    const old = vm.spec;
    if (canonical(old) === canonical(spec)) return { created: false, changed: false, status: await this.statusOf(vm) };
    if (old.arch !== spec.arch) throw new AgentError("conflict", `VM ${vm.id} is ${old.arch}; the architecture of an existing VM cannot change`);
    if (canonical(old.boot) !== canonical(spec.boot)) {
      throw new AgentError("conflict", `VM ${vm.id}: boot media cannot change on an existing VM; delete and recreate it`);
    }
    if (spec.diskGb < old.diskGb) throw new AgentError("conflict", `VM ${vm.id}: the disk can only grow (${old.diskGb} GiB -> ${spec.diskGb} GiB)`);
    const running = vm.pid !== null && pidAlive(vm.pid);
    const hardwareChanged = old.vcpus !== spec.vcpus || old.memoryMb !== spec.memoryMb || canonical(old.nics) !== canonical(spec.nics) || specDisplay(old) !== specDisplay(spec);
    if (running && spec.powerState === "running" && hardwareChanged) {
      throw new AgentError("conflict", `VM ${vm.id} is running: stop it before changing vCPUs, memory, NICs or its display`);
    }
    if (running && spec.powerState === "stopped") await this.gracefulStop(vm);

    if (spec.diskGb > old.diskGb) {
      const q = vm.pid !== null && pidAlive(vm.pid) ? await this.ensureQmp(vm, 5_000) : null;
      if (q) await q.blockResize("disk0", gbToBytes(spec.diskGb));
      else await resizeImage(vm.paths.disk, spec.diskGb, { qemuImg: this.opts.qemuImg });
    }
    if (canonical(old.nics) !== canonical(spec.nics)) await this.reconcileNics(vm, spec.nics);
    // cloud-init seed: rebuilt now while stopped (errors show up on this PUT); a running VM keeps
    // its CD and gets the new seed at its next start (launchArgs).
    const seedInputsChanged = canonical(old.cloudInit) !== canonical(spec.cloudInit) || canonical(old.nics) !== canonical(spec.nics);
    if (seedInputsChanged && !(vm.pid !== null && pidAlive(vm.pid))) {
      await ensureSeedIso(vm.paths.dir, vm.id, spec, { genisoimage: this.opts.genisoimage });
    }
    vm.spec = spec;
    await this.saveSpec(vm);
    if (spec.powerState === "running" && !(vm.pid !== null && pidAlive(vm.pid))) await this.start(vm);
    this.changed(vm);
    return { created: false, changed: true, status: await this.statusOf(vm) };
  }

  /** Only while stopped: remove ports of removed/changed NICs, add ports for new ones. */
  private async reconcileNics(vm: Vm, nics: NicSpec[]): Promise<void> {
    const wanted = new Map(nics.map((n) => [n.id, n]));
    for (const [nicId, tap] of Object.entries(vm.state.taps)) {
      const have = vm.state.nicSpecs[nicId];
      const want = wanted.get(nicId);
      if (want && have && canonical(want) === canonical(have)) continue;
      await this.opts.network?.removePort(vm.id, have ?? want ?? { id: nicId, mac: "00:00:00:00:00:00", vlan: 0 }, tap);
      delete vm.state.taps[nicId];
      delete vm.state.nicSpecs[nicId];
      await this.saveState(vm);
    }
    for (const nic of nics) if (!vm.state.taps[nic.id]) await this.addPort(vm, nic);
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
      await this.killNow(vm);
    }
    return this.withLock(id, async () => {
      this.ensureOpen();
      if (this.vms.get(id) !== vm) throw new AgentError("not_found", `no VM ${id} on this host`);
      switch (action) {
        case "start":
          await this.setDesired(vm, "running");
          await this.start(vm);
          break;
        case "stop":
          await this.setDesired(vm, "stopped");
          await this.gracefulStop(vm);
          vm.error = undefined;
          break;
        case "poweroff":
          await this.setDesired(vm, "stopped");
          await this.killNow(vm);
          vm.error = undefined;
          break;
        case "reboot": {
          const q = vm.pid !== null && pidAlive(vm.pid) ? await this.ensureQmp(vm, 5_000) : null;
          if (!q) throw new AgentError("conflict", `VM ${id} is not running`);
          await q.systemReset();
          break;
        }
        default:
          throw new AgentError("invalid", `unknown action ${String(action)}`);
      }
      return this.statusOf(vm);
    });
  }

  /** Actions update the persisted desired state so a later PUT of the other state converges. */
  private async setDesired(vm: Vm, powerState: VmSpec["powerState"]): Promise<void> {
    if (vm.spec.powerState === powerState) return;
    vm.spec = { ...vm.spec, powerState };
    await this.saveSpec(vm);
  }

  private async start(vm: Vm): Promise<void> {
    if (vm.pid !== null && pidAlive(vm.pid)) return;
    // Belt and braces against a duplicate QEMU: a live process holding our pidfile wins.
    const other = await readPidFile(vm.paths.pidFile);
    if (other && pidAlive(other) && isQemuWithPidfile(other, vm.paths.pidFile)) {
      vm.pid = other;
      await this.ensureQmp(vm, 5_000);
      return;
    }
    const plan = validateSpec(vm.spec, this.limits);
    vm.transition = "starting";
    vm.forceRequested = false;
    this.changed(vm);
    try {
      const args = await this.launchArgs(vm, plan);
      await fsp.mkdir(vm.paths.sockDir, { recursive: true, mode: 0o700 });
      await this.clearRuntimeFiles(vm);
      // Keep one previous boot's console output for diagnosis; the current boot starts clean.
      await fsp.rename(vm.paths.serialLog, `${vm.paths.serialLog}.1`).catch(() => {});
      const qemuLogSize = await fsp.stat(vm.paths.qemuLog).then((st) => st.size).catch(() => 0);
      if (qemuLogSize > 1024 * 1024) await fsp.rename(vm.paths.qemuLog, `${vm.paths.qemuLog}.1`).catch(() => {});
      await writeFileAtomic(vm.paths.argvFile, JSON.stringify([plan.binary, ...args], null, 1) + "\n");
      await this.spawnQemu(vm, plan.binary, args);
      vm.state.accel = plan.accel;
      vm.state.emulated = plan.emulated;
      vm.state.lastError = undefined;
      vm.error = undefined;
      await this.saveState(vm);
      this.log("vm started", { id: vm.id, pid: vm.pid, accel: plan.accel });
    } catch (err) {
      vm.error = errMessage(err);
      vm.state.lastError = vm.error;
      await this.saveState(vm).catch(() => {});
      throw toAgentError(err, `VM ${vm.id} could not start`, "unavailable");
    } finally {
      vm.transition = null;
      this.changed(vm);
    }
  }

  private async launchArgs(vm: Vm, plan: LaunchPlan): Promise<string[]> {
    const spec = vm.spec;
    let boot: QemuBoot;
    if (spec.boot.type === "kernel") {
      let media = vm.state.resolved;
      // The image cache may have moved or evicted the files since create: ask again.
      if (!media?.kernel || !existsSync(media.kernel) || (media.initrd && !existsSync(media.initrd))) {
        media = await this.resolveMedia(spec);
        vm.state.resolved = media;
      }
      boot = { type: "kernel", kernel: media.kernel!, initrd: media.initrd, cmdline: spec.boot.cmdline };
    } else {
      boot = {
        type: "disk",
        firmware: spec.boot.firmware,
        pflash: plan.uefi ? { code: plan.uefi.code, vars: vm.paths.vars } : undefined,
      };
      if (plan.uefi && !existsSync(vm.paths.vars)) await sparseCopy(plan.uefi.varsTemplate, vm.paths.vars);
    }
    const nics: QemuNic[] = spec.nics.map((n) => {
      const tap = vm.state.taps[n.id];
      if (!tap) throw new AgentError("unavailable", `NIC ${n.id} has no network port`);
      return { id: n.id, mac: n.mac, tap };
    });
    // cloud-init seed (re)built from the current spec before QEMU opens it; null = no seed.
    const seedIso = await ensureSeedIso(vm.paths.dir, vm.id, spec, { genisoimage: this.opts.genisoimage });
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
        sandbox: this.opts.sandbox,
        seedIso: seedIso ?? undefined,
      });
    } catch (err) {
      throw new AgentError("invalid", errMessage(err));
    }
  }

  /**
   * Spawns QEMU in its own session with stdio on a log file, so neither the agent's death nor
   * its terminal reaches the VM; then waits for QMP. QEMU's own stderr explains early exits.
   */
  private async spawnQemu(vm: Vm, binary: string, args: string[]): Promise<void> {
    const logFd = openSync(vm.paths.qemuLog, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_APPEND, 0o600);
    let child: ChildProcess;
    try {
      child = spawn(binary, args, { cwd: vm.paths.dir, detached: true, stdio: ["ignore", logFd, logFd] });
    } finally {
      closeSync(logFd);
    }
    // Holder object: closures mutate it, the wait loop below reads it.
    const st: { exited: { code: number | null; signal: NodeJS.Signals | null } | null; spawnError: Error | null } = {
      exited: null,
      spawnError: null,
    };
    child.on("error", (err) => (st.spawnError = err));
    child.on("exit", (code, signal) => {
      st.exited = { code, signal };
      if (vm.child === child) vm.child = undefined;
      if (vm.pid === child.pid) void this.onProcessGone(vm);
    });
    child.unref();
    vm.child = child;
    if (child.pid) vm.pid = child.pid;

    const deadline = Date.now() + this.startTimeoutMs;
    // QEMU opens its QMP socket 40–200 ms after exec: poll fast first, then back off, so the
    // agent adds little to a start (bench/agent.ts measured a fixed 100 ms poll as +60% on x86).
    let pollMs = 5;
    while (Date.now() < deadline) {
      if (st.spawnError) throw new AgentError("unavailable", `could not run ${binary}: ${errMessage(st.spawnError)}`);
      if (st.exited) break;
      if (vm.forceRequested) throw new AgentError("conflict", "start interrupted by power-off");
      if (existsSync(vm.paths.qmp)) {
        try {
          const client = await QmpClient.connect(vm.paths.qmp, { connectTimeoutMs: Math.max(1_000, Math.min(5_000, deadline - Date.now())) });
          this.attachQmp(vm, client);
          return;
        } catch {
          /* not listening yet */
        }
      }
      await sleep(pollMs);
      pollMs = Math.min(100, pollMs * 1.5);
    }
    if (st.exited) {
      const tail = await this.qemuLogTail(vm);
      const how = describeExit(st.exited);
      throw new AgentError("unavailable", `QEMU exited during start${how}${tail ? `: ${tail}` : ""}`);
    }
    await this.killNow(vm);
    throw new AgentError("unavailable", `QEMU did not answer on QMP within ${this.startTimeoutMs} ms`);
  }

  private async qemuLogTail(vm: Vm): Promise<string> {
    const text = await fsp.readFile(vm.paths.qemuLog, "utf8").catch(() => "");
    return text
      .trim()
      .split("\n")
      .slice(-3)
      .map((l) => l.replace(/^\S+ qemu-system-\S+: /, "").trim())
      .join(" | ")
      .slice(0, 500);
  }

  /** ACPI power button, wait up to the stop timeout, then force. */
  private async gracefulStop(vm: Vm): Promise<void> {
    if (vm.pid === null || !pidAlive(vm.pid)) {
      if (vm.pid !== null) await this.onProcessGone(vm);
      return;
    }
    const pid = vm.pid;
    vm.transition = "stopping";
    this.changed(vm);
    try {
      const q = await this.ensureQmp(vm, 5_000);
      let gone = false;
      if (q) {
        await q.systemPowerdown().catch((err) => this.log("system_powerdown failed", { id: vm.id, error: errMessage(err) }));
        gone = await waitForExit(pid, this.stopTimeoutMs, () => vm.forceRequested || this.closed);
      }
      if (!gone) {
        this.log("guest did not power off in time; forcing", { id: vm.id, timeoutMs: this.stopTimeoutMs });
        await this.killNow(vm);
      }
      await this.onProcessGone(vm);
    } finally {
      vm.transition = null;
      this.changed(vm);
    }
  }

  /** QMP quit, then SIGKILL if QEMU is still there. Only ever signals a pid that is our QEMU. */
  private async killNow(vm: Vm): Promise<void> {
    const pid = vm.pid;
    if (pid === null || !pidAlive(pid)) {
      if (pid !== null) await this.onProcessGone(vm);
      return;
    }
    const q = vm.qmp && !vm.qmp.closed ? vm.qmp : await this.ensureQmp(vm, 2_000);
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
    await this.onProcessGone(vm);
  }

  // ------------------------------------------------------------------------------------------
  // delete

  /** Kills QEMU and removes overlay, vars, sockets, logs, network ports and the VM directory. */
  async delete(id: string): Promise<void> {
    this.ensureOpen();
    await this.init();
    const vm = this.getVm(id);
    vm.forceRequested = true;
    await this.killNow(vm);
    await this.withLock(id, async () => {
      if (this.vms.get(id) !== vm) throw new AgentError("not_found", `no VM ${id} on this host`);
      await this.killNow(vm);
      // Ports first: if OVS refuses, keep the VM (and its record of taps) so a retry can finish.
      await this.releasePorts(id, vm.state).finally(() => this.saveState(vm).catch(() => {}));
      this.vms.delete(id);
      await rmQuiet(vm.paths.dir);
      if (vm.paths.sockDir !== vm.paths.dir) await rmQuiet(vm.paths.sockDir);
      this.log("vm deleted", { id });
      this.emit("change", { id, deleted: true });
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

function describeExit(e: { code: number | null; signal: NodeJS.Signals | null }): string {
  if (e.signal) return ` (signal ${e.signal})`;
  return e.code !== null ? ` (exit code ${e.code})` : "";
}

function toAgentError(err: unknown, context: string, fallback: AgentError["code"] = "unavailable"): AgentError {
  if (err instanceof AgentError) return err;
  return new AgentError(fallback, `${context}: ${errMessage(err)}`, { cause: err });
}

export type StepListener = (event: VmStepEvent) => void;

/** Emits create steps to a listener (the API streams them to the controller); a no-op without one. */
export type StepReporter = {
  emit(name: VmCreateStep, status: VmStepEvent["status"], message?: string): void;
  /** Marks the step running, runs it, marks it succeeded with its message, or failed with the error. */
  run<T>(name: VmCreateStep, fn: () => Promise<{ value: T; message?: string }>): Promise<T>;
  fail(name: VmCreateStep, err: unknown): never;
};

function stepReporter(listener?: StepListener): StepReporter {
  const emit: StepReporter["emit"] = (name, status, message) => {
    if (!listener) return;
    try {
      listener({ type: "step", name, status, ...(message ? { message: message.slice(0, 1000) } : {}), at: new Date().toISOString() });
    } catch {
      // A listener that cannot deliver (the controller hung up) must not fail the create itself.
    }
  };
  const fail = (name: VmCreateStep, err: unknown): never => {
    emit(name, "failed", errMessage(err));
    throw err;
  };
  return {
    emit,
    fail,
    async run(name, fn) {
      emit(name, "running");
      let out;
      try {
        out = await fn();
      } catch (err) {
        return fail(name, err);
      }
      emit(name, "succeeded", out.message);
      return out.value;
    },
  };
}
