// The soak's workload (issue 15): C slots, each owning at most one busybox-demo VM and driving it
// through the console API with a small state machine, so every operation is valid for the VM's
// state: absent → create; running → stop | reboot | delete; stopped → start | delete; error → delete.
// Every operation is waited for until its task ended (create: the task polled over the API; the
// power actions and delete answer only after their task finished). Shared by bench/soak.ts and
// faults/soak.int.test.ts.
//
// Stop vs. power-off: "stop" is the ACPI power button, and the agent forces only after its stop
// timeout (60 s): a guest that has not armed its button yet would make every such stop cost a
// minute. The busybox init (scripts/fixtures/init.sh) arms the button, then configures the NICs
// and prints "POLYARCH-NET eth0 …" (BOOT-OK comes ~10 s later, after its seed search), so a stop is
// sent only to a guest whose serial log shows that line since its last (re)start; one that does not
// within `armWaitMs` gets "poweroff" (immediate) instead, counted as its own kind.
import fs from "node:fs";
import path from "node:path";
import type { FleetAgent } from "../scripts/fleet/fleet.mjs";
import type { Rig } from "../lib/server/testing/fault-rig";

export type Arch = "x86_64" | "aarch64";
export type OpKind = "create" | "start" | "stop" | "poweroff" | "reboot" | "delete";
export type Phase = "warm-up" | "main" | "cleanup";
export const OP_KINDS: OpKind[] = ["create", "start", "stop", "poweroff", "reboot", "delete"];

export interface OpResult {
  kind: OpKind;
  arch: Arch;
  phase: Phase;
  ok: boolean;
  ms: number;
  vmId: string | null;
  error?: string;
}

export interface SoakSetup {
  images: Partial<Record<Arch, string>>;
  networkId: string;
}

export interface DriverOptions {
  concurrency: number;
  arches: Arch[];
  /** how long a stop waits for the guest to finish booting before it powers off instead */
  armWaitMs?: number;
  seed?: number;
  /** called after every operation (progress lines) */
  onOp?: (r: OpResult, done: number) => void;
}

type SlotState = "absent" | "running" | "stopped" | "error";
/** printed by init right after arming the power button (every soak VM has a NIC) */
const ARMED_MARK = "POLYARCH-NET eth0";
const TASK_POLL_MS = 500;
const CREATE_TIMEOUT_MS = 300_000;
const ACTION_TIMEOUT_MS = 180_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** mulberry32: a seeded PRNG, so that a run's mix of operations can be repeated. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Slot {
  index: number;
  arch: Arch;
  vmId: string | null;
  hostId: string | null;
  state: SlotState;
  /** ARMED_MARK lines in the serial log before the last start/reboot/create (the log is appended to) */
  armedBefore: number;
  created: number;
}

/** The slice of the rig the driver needs (so that a test can pass its own). */
type DriverRig = Pick<Rig, "api" | "fleet">;

/**
 * Lets every host take `concurrency` 1-vCPU VMs (the default 4× overcommit of this machine's 2 cores
 * is 8: an admin's setting, made here over the API), makes a network (a NIC per VM: tap, OVS port,
 * IP) and finds the demo images.
 */
export async function prepareSoak(rig: DriverRig, arches: Arch[], concurrency: number): Promise<SoakSetup> {
  const ratio = Math.min(64, Math.max(4, concurrency));
  for (const a of rig.fleet.agents)
    if (a.hostId) await rig.api.expect(200, "PATCH", `/api/v1/hosts/${a.hostId}`, { cpuAllocationRatio: ratio });
  const net = await rig.api.expect<{ id: string }>(201, "POST", "/api/v1/networks", {
    name: "soak",
    vlanId: 377,
    cidr: "10.77.0.0/22",
    gateway: "10.77.0.1",
  });
  const images: SoakSetup["images"] = {};
  for (const arch of arches) images[arch] = await rig.api.demoImage(arch);
  return { images, networkId: net.id };
}

export class SoakDriver {
  readonly results: OpResult[] = [];
  private readonly slots: Slot[];
  private readonly random: () => number;
  private readonly armWaitMs: number;

  constructor(
    private readonly rig: DriverRig,
    private readonly setup: SoakSetup,
    private readonly opts: DriverOptions,
  ) {
    this.random = prng(opts.seed ?? 15);
    this.armWaitMs = opts.armWaitMs ?? 20_000;
    this.slots = Array.from({ length: opts.concurrency }, (_, index) => ({
      index,
      arch: opts.arches[index % opts.arches.length]!,
      vmId: null,
      hostId: null,
      state: "absent" as SlotState,
      armedBefore: 0,
      created: 0,
    }));
  }

  /** Runs `count` operations over all slots at once; returns when every slot's last one ended. */
  async run(count: number, phase: Exclude<Phase, "cleanup">): Promise<void> {
    let issued = 0;
    await Promise.all(
      this.slots.map(async (slot) => {
        while (issued < count) {
          issued++;
          await this.step(slot, phase);
        }
      }),
    );
  }

  /** Deletes every VM the slots still own (phase "cleanup"). */
  async cleanup(): Promise<void> {
    await Promise.all(this.slots.filter((s) => s.vmId).map((s) => this.op(s, "delete", "cleanup")));
  }

  private async step(slot: Slot, phase: Phase): Promise<void> {
    const r = this.random();
    let kind: OpKind;
    if (slot.state === "absent") kind = "create";
    else if (slot.state === "error") kind = "delete";
    else if (slot.state === "stopped") kind = r < 0.6 ? "start" : "delete";
    else if (r < 0.45) kind = (await this.buttonArmed(slot)) ? "stop" : "poweroff";
    else kind = r < 0.72 ? "reboot" : "delete";
    await this.op(slot, kind, phase);
  }

  private async op(slot: Slot, kind: OpKind, phase: Phase): Promise<void> {
    const started = performance.now();
    let error: string | undefined;
    try {
      if (kind === "create") await this.create(slot);
      else if (kind === "delete") await this.remove(slot);
      else await this.action(slot, kind);
    } catch (e) {
      error = e instanceof Error ? e.message : String(e);
      await this.resync(slot);
    }
    const result: OpResult = {
      kind,
      arch: slot.arch,
      phase,
      ok: error === undefined,
      ms: performance.now() - started,
      vmId: slot.vmId,
      ...(error === undefined ? {} : { error }),
    };
    this.results.push(result);
    this.opts.onOp?.(result, this.results.length);
  }

  private async create(slot: Slot): Promise<void> {
    const name = `soak-${slot.index}-${++slot.created}`;
    const a = await this.rig.api.call<{ vm: { id: string }; host: { id: string }; task: { id: string } }>(
      "POST",
      "/api/v1/vms",
      {
        name,
        arch: slot.arch,
        imageId: this.setup.images[slot.arch],
        vcpus: 1,
        memoryMb: 128,
        diskGb: 1,
        networkId: this.setup.networkId,
      },
      60_000,
    );
    if (a.status !== 202) throw new Error(`create ${name}: ${a.status} ${a.error ?? JSON.stringify(a.body)}`);
    [slot.vmId, slot.hostId, slot.state, slot.armedBefore] = [a.body.vm.id, a.body.host.id, "error", 0];
    const task = await this.waitForTask(slot.vmId, a.body.task.id, CREATE_TIMEOUT_MS);
    if (task.status !== "succeeded") throw new Error(`create ${name}: task ${task.status}: ${task.error ?? ""}`);
    const vm = await this.rig.api.call<{ status: string; powerState?: string; lastError?: string | null }>(
      "GET",
      `/api/v1/vms/${slot.vmId}`,
    );
    if (vm.status !== 200 || vm.body.status !== "running")
      throw new Error(`create ${name}: task succeeded but the VM is ${JSON.stringify(vm.body)?.slice(0, 400)}`);
    slot.state = "running";
  }

  private async action(slot: Slot, kind: Exclude<OpKind, "create" | "delete">): Promise<void> {
    if (kind === "start" || kind === "reboot") slot.armedBefore = this.armedCount(slot);
    const a = await this.rig.api.call<{ status: string }>(
      "POST",
      `/api/v1/vms/${slot.vmId}/actions`,
      { action: kind },
      ACTION_TIMEOUT_MS,
    );
    if (a.status !== 200) throw new Error(`${kind} ${slot.vmId}: ${a.status} ${a.error ?? JSON.stringify(a.body)}`);
    const want = kind === "start" || kind === "reboot" ? "running" : "stopped";
    if (a.body.status !== want) throw new Error(`${kind} ${slot.vmId}: the VM is ${a.body.status}, not ${want}`);
    slot.state = want;
  }

  private async remove(slot: Slot): Promise<void> {
    const a = await this.rig.api.call("DELETE", `/api/v1/vms/${slot.vmId}`, undefined, ACTION_TIMEOUT_MS);
    if (a.status !== 200) throw new Error(`delete ${slot.vmId}: ${a.status} ${a.error ?? JSON.stringify(a.body)}`);
    [slot.vmId, slot.hostId, slot.state] = [null, null, "absent"];
  }

  /** After a failure: what the console now says about the slot's VM, so the next operation is valid. */
  private async resync(slot: Slot): Promise<SlotState> {
    if (!slot.vmId) return slot.state;
    const a = await this.rig.api.call<{ status: string }>("GET", `/api/v1/vms/${slot.vmId}`);
    if (a.status === 404) [slot.vmId, slot.hostId, slot.state] = [null, null, "absent"];
    else if (a.status === 200 && (a.body.status === "running" || a.body.status === "stopped"))
      slot.state = a.body.status;
    else slot.state = "error";
    return slot.state;
  }

  private async waitForTask(vmId: string, taskId: string, timeoutMs: number) {
    type Task = { id: string; status: string; error: string | null };
    const end = Date.now() + timeoutMs;
    for (;;) {
      const a = await this.rig.api.call<{ items: Task[] }>("GET", `/api/v1/vms/${vmId}/tasks`);
      const task = a.status === 200 ? a.body.items.find((t) => t.id === taskId) : undefined;
      if (task && task.status !== "pending" && task.status !== "running") return task;
      if (Date.now() > end)
        throw new Error(`task ${taskId} not ended after ${timeoutMs} ms (${task?.status ?? a.status})`);
      await sleep(TASK_POLL_MS);
    }
  }

  private agentOf(slot: Slot): FleetAgent | undefined {
    return this.rig.fleet.agents.find((a) => a.hostId === slot.hostId);
  }

  /** ARMED_MARK lines in the VM's serial log on its agent (the guest's own word that its button is armed). */
  private armedCount(slot: Slot): number {
    const agent = this.agentOf(slot);
    if (!agent || !slot.vmId) return 0;
    try {
      const log = fs.readFileSync(path.join(agent.stateDir, "vms", slot.vmId, "serial.log"), "utf8");
      return log.split(ARMED_MARK).length - 1;
    } catch {
      return 0;
    }
  }

  private async buttonArmed(slot: Slot): Promise<boolean> {
    const end = Date.now() + this.armWaitMs;
    while (this.armedCount(slot) <= slot.armedBefore) {
      if (Date.now() > end) return false;
      await sleep(250);
    }
    return true;
  }
}
