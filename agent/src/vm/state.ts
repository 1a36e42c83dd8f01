// A VM as VmManager tracks it, and its files. <stateDir>/vms/<id>/ holds spec.json (desired spec),
// state.json (what the agent created for it), the disk, vars, logs and the pidfile; the unix
// sockets live there too unless that path is too long for sun_path.
import type { ChildProcess } from "node:child_process";
import { promises as fsp } from "node:fs";
import path from "node:path";
import { type VmExit, type VmSpec, vmSpecSchema } from "../../../lib/schemas/agent-api";
import type { Accel, QmpClient } from "../qemu";
import { zodMessage } from "./errors";
import { socketDirFor, writeFileAtomic } from "./proc";
import type { NicSpec, ResolvedImage, VmManagerOptions } from "./types";
import type { HostLimits } from "./validate";
import type { VolumeStore } from "./volumes";

/** state.json: what the agent created for a VM, so it can be found and removed after a restart. */
export interface VmRuntimeState {
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
  /** data volume id -> reserved root port it occupies (kept across agent and VM restarts) */
  volumePorts?: Record<string, number>;
}

export interface VmPaths {
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

export interface Vm {
  id: string;
  spec: VmSpec;
  state: VmRuntimeState;
  paths: VmPaths;
  pid: number | null;
  qmp: QmpClient | null;
  qmpConnecting: Promise<QmpClient | null> | null;
  lastQmpStatus?: string;
  /** state.json as this object last wrote it: an unchanged state is not written again (saveState) */
  savedState?: string;
  transition: "starting" | "stopping" | null;
  error?: string;
  child?: ChildProcess;
  /** set by poweroff/delete so a pending graceful stop gives up waiting */
  forceRequested: boolean;
  /** this copy takes part in a live migration (agent/src/migration, ADR 035) */
  migration?: { role: "incoming" | "outgoing"; phase: string };
  /** this side is ending QEMU (stop, kill, delete, migration): its exit is no surprise */
  exitExpected?: boolean;
  /** QEMU announced a guest-initiated SHUTDOWN (the guest powered itself off) */
  guestShutdown?: boolean;
  /** why QEMU last exited on its own; cleared by the next start (reported as VmStatus.lastExit) */
  lastExit?: VmExit;
}

/** What the functions that act on a VM need from the VmManager that owns it. */
export interface VmContext {
  readonly opts: VmManagerOptions;
  /** <stateDir>/vms, absolute */
  readonly vmsDir: string;
  readonly limits: HostLimits;
  readonly stopTimeoutMs: number;
  readonly startTimeoutMs: number;
  readonly unplugTimeoutMs: number;
  /** this host's data volumes (files only; attachment is in the VMs' specs) */
  readonly volumes: VolumeStore;
  /** close() has begun: connect to nothing new, stop waiting for guests */
  isClosed(): boolean;
  log(msg: string, ctx?: Record<string, unknown>): void;
  /** emits the manager's `change` event for this VM */
  changed(vm: Vm): void;
}

const SPEC_FILE = "spec.json";

export function sockDirFor(ctx: VmContext, id: string): string {
  return socketDirFor(path.join(ctx.vmsDir, id), ctx.opts.stateDir, id, ctx.opts.socketBaseDir);
}

export function pathsFor(ctx: VmContext, id: string, sockDir: string): VmPaths {
  const dir = path.join(ctx.vmsDir, id);
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

/** The VM's spec.json: null when there is none; throws when it is not a valid spec. */
export async function readSpec(ctx: VmContext, id: string): Promise<VmSpec | null> {
  const specRaw = await fsp.readFile(path.join(ctx.vmsDir, id, SPEC_FILE), "utf8").catch(() => null);
  if (specRaw === null) return null;
  const parsed = vmSpecSchema.safeParse(JSON.parse(specRaw));
  if (!parsed.success) throw new Error(`spec.json invalid: ${zodMessage(parsed.error.issues)}`);
  return parsed.data;
}

/** The VM's state.json; an empty state (nothing created) when it is missing or unreadable. */
export async function readState(ctx: VmContext, id: string): Promise<VmRuntimeState> {
  try {
    const s = JSON.parse(
      await fsp.readFile(path.join(ctx.vmsDir, id, "state.json"), "utf8"),
    ) as Partial<VmRuntimeState>;
    return {
      version: 1,
      sockDir: typeof s.sockDir === "string" ? s.sockDir : sockDirFor(ctx, id),
      taps: s.taps ?? {},
      nicSpecs: s.nicSpecs ?? {},
      accel: s.accel,
      emulated: s.emulated,
      resolved: s.resolved,
      lastError: s.lastError,
      volumePorts: s.volumePorts ?? {},
    };
  } catch {
    return { version: 1, sockDir: sockDirFor(ctx, id), taps: {}, nicSpecs: {} };
  }
}

/**
 * Writes state.json unless this Vm object already wrote exactly this content (e.g. the start after a
 * create: same accel, no error). A Vm object lives as long as its directory: delete, evict and a
 * failed create drop it, a re-created VM is a new object and writes again.
 */
export async function saveState(vm: Pick<Vm, "state" | "paths" | "savedState">): Promise<void> {
  const text = JSON.stringify(vm.state, null, 2) + "\n";
  if (vm.savedState === text) return;
  await writeFileAtomic(vm.paths.state, text);
  vm.savedState = text;
}

export async function saveSpec(vm: Pick<Vm, "spec" | "paths">): Promise<void> {
  await writeFileAtomic(vm.paths.spec, JSON.stringify(vm.spec, null, 2) + "\n");
}

/** Sockets and pidfile of a QEMU that is gone (or about to be started). */
export async function clearRuntimeFiles(vm: Pick<Vm, "paths">): Promise<void> {
  await Promise.all(
    [vm.paths.qmp, vm.paths.serial, vm.paths.pidFile].map((p) => fsp.rm(p, { force: true }).catch(() => {})),
  );
}

/** Removes the VM directory and, when it is elsewhere, its socket directory. */
export async function removeVmDirs(paths: Pick<VmPaths, "dir" | "sockDir">): Promise<void> {
  await rmQuiet(paths.dir);
  if (paths.sockDir !== paths.dir) await rmQuiet(paths.sockDir);
}

async function rmQuiet(p: string): Promise<void> {
  await fsp.rm(p, { force: true, recursive: true }).catch(() => {});
}
