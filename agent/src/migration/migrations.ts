// VmMigrations: the agent's half of moving VMs (lib/schemas/agent-migration.ts is the protocol).
// One per VmManager, reached as manager.migrations; every operation goes through the manager's
// per-VM lock, except cancel, which must interrupt an outgoing move that holds it.
import { promises as fsp } from "node:fs";
import type {
  DiskName,
  MigrationIncoming,
  MigrationOutgoing,
  MigrationProgressEvent,
  MigrationResult,
  MigrationTarget,
} from "../../../lib/schemas/agent-migration";
import type { VmStatus } from "../../../lib/schemas/agent-api";
import { ensureQmp } from "../vm/attach";
import { AgentError } from "../vm/errors";
import { releasePorts } from "../vm/ports";
import { killNow } from "../vm/power";
import { pidAlive } from "../vm/proc";
import { removeVmDirs, saveState } from "../vm/state";
import { type DiskDownload, diskForTransfer, receiveDisk } from "./disk-transfer";
import type { MigrationHost } from "./host";
import { abortIncoming, completeIncoming, prepareIncoming } from "./incoming";
import { type OutgoingRun, rollBack, runOutgoing } from "./outgoing";
import { leftoverMirrors } from "./qmp-steps";

export class VmMigrations {
  /** outgoing moves in flight, for cancel */
  private readonly outgoingRuns = new Map<string, OutgoingRun>();

  constructor(private readonly host: MigrationHost) {}

  /** Target, step 1. `listenHost`: the address the controller reached this agent on. */
  async incoming(id: string, input: MigrationIncoming, listenHost: string): Promise<MigrationTarget> {
    await this.ready();
    return prepareIncoming(this.host, id, input, listenHost);
  }

  /** Source, step 2: refused (409) when the VM is busy; then holds the VM's lock until the end. */
  async outgoing(
    id: string,
    input: MigrationOutgoing,
    onProgress: (e: MigrationProgressEvent) => void,
  ): Promise<MigrationResult> {
    await this.ready();
    const vm = this.host.vms.get(id);
    if (!vm) throw new AgentError("not_found", `no VM ${id} on this host`);
    if (this.host.busy(id) || this.outgoingRuns.has(id))
      throw new AgentError("conflict", `VM ${id} is busy with another operation (a snapshot?); try again when it ends`);
    const run: OutgoingRun = { cancelled: false, done: Promise.resolve() };
    this.outgoingRuns.set(id, run);
    const done = this.host.withLock(id, () => {
      if (this.host.vms.get(id) !== vm) throw new AgentError("not_found", `no VM ${id} on this host`);
      return runOutgoing(this.host, vm, input, run, onProgress);
    });
    run.done = done.catch(() => {});
    try {
      return await done;
    } finally {
      if (this.outgoingRuns.get(id) === run) this.outgoingRuns.delete(id);
    }
  }

  /** Target, step 3. */
  async complete(id: string): Promise<VmStatus> {
    await this.ready();
    return completeIncoming(this.host, id);
  }

  /**
   * Source: stop a move (in flight, or finished but not released) and resume the guest here.
   * Also after an agent restart, when only QEMU remembers the move (a paused guest, mirrors).
   * Idempotent: a VM that is not moving (or unknown here) is left as it is.
   */
  async cancel(id: string): Promise<void> {
    await this.host.init();
    const run = this.outgoingRuns.get(id);
    if (run) {
      run.cancelled = true;
      const vm = this.host.vms.get(id);
      // Stop QEMU's migration thread now rather than at the next poll.
      if (vm?.qmp && !vm.qmp.closed) await vm.qmp.execute("migrate_cancel").catch(() => {});
      await run.done;
      return;
    }
    await this.host.withLock(id, async () => {
      const vm = this.host.vms.get(id);
      if (!vm || vm.migration?.role === "incoming") return;
      const tracked = vm.migration?.role === "outgoing";
      const q = await ensureQmp(this.host.ctx, vm, 5_000);
      if (!tracked) {
        // An agent restarted since the move began has forgotten it; QEMU has not. Nothing else
        // leaves a guest paused outside the VM's lock (there is no pause action), so a guest paused
        // or in postmigrate here was paused by that move (a TCG copy, ADR 064, or the switch-over).
        const status = q ? (await q.queryStatus()).status : "unreachable";
        if (status !== "postmigrate" && status !== "paused") return;
      }
      // Sent everything, or cut off mid-copy: the target never took over, so the guest goes on here.
      if (q) await rollBack(q, await leftoverMirrors(q));
      vm.migration = undefined;
      this.host.ctx.log("migration outgoing cancelled after it ran; guest resumed here", { id });
      this.host.emitChange(id);
    });
  }

  /** Target: undo an incoming move. */
  async abort(id: string): Promise<void> {
    await this.host.init();
    await abortIncoming(this.host, id);
  }

  /**
   * Source, last step (live and cold): the paused or stopped copy goes, with its files and its
   * volumes (they live on the target now). Refused (409) while the guest runs here.
   */
  async release(id: string): Promise<void> {
    await this.ready();
    await this.host.withLock(id, async () => {
      const { ctx } = this.host;
      const vm = this.host.vms.get(id);
      if (!vm) return; // released before
      if (vm.migration?.role === "incoming")
        throw new AgentError("conflict", `VM ${id} is an incoming migration here; abort it`);
      const moved = vm.migration?.role === "outgoing" && vm.migration.phase === "completed";
      if (!moved && vm.pid !== null && pidAlive(vm.pid))
        throw new AgentError("conflict", `VM ${id} runs here and has not moved; stop it or migrate it first`);
      vm.forceRequested = true;
      await killNow(ctx, vm);
      await releasePorts(ctx, id, vm.state).finally(() => saveState(vm).catch(() => {}));
      await this.host.withVolumesLock(async () => {
        this.host.vms.delete(id);
        for (const v of vm.spec.volumes) await fsp.rm(ctx.volumes.pathFor(v.id), { force: true });
      });
      await removeVmDirs(vm.paths);
      ctx.log("migrated VM released", { id, volumes: vm.spec.volumes.length });
      this.host.emitChange(id, { deleted: true });
    });
  }

  /** Cold, source: a stopped VM's disk as a standalone file with its SHA-256. */
  async diskDownload(id: string, disk: DiskName): Promise<DiskDownload> {
    await this.ready();
    return diskForTransfer(this.host, id, disk);
  }

  /** Cold, target: a disk body verified against the declared length and SHA-256, then kept. */
  async diskUpload(
    id: string,
    disk: DiskName,
    body: NodeJS.ReadableStream,
    declared: { sha256: string; sizeBytes: number },
  ): Promise<{ id: string; disk: DiskName; sizeBytes: number; sha256: string }> {
    await this.ready();
    return receiveDisk(this.host, id, disk, body as import("node:stream").Readable, declared);
  }

  private async ready(): Promise<void> {
    this.host.ensureOpen();
    await this.host.init();
  }
}
