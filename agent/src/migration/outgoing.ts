// Source side of a live migration (ADR 035): mirror every disk to the target's NBD exports, then
// the memory; the guest ends paused here (postmigrate) with everything sent. A cancel (or any
// failure) stops the mirrors and the migration and resumes the guest: it keeps running here.
import type { MigrationOutgoing, MigrationProgressEvent, MigrationResult } from "../../../lib/schemas/agent-migration";
import type { QmpClient } from "../qemu";
import { listImageSnapshots } from "../qemu";
import { ensureQmp } from "../vm/attach";
import { AgentError, errMessage, toAgentError } from "../vm/errors";
import type { Vm } from "../vm/state";
import { volumeNode } from "../vm/volume-attach";
import type { MigrationHost } from "./host";
import {
  type DiskNode,
  type MirrorNode,
  queryMigrate,
  queryMirrors,
  setMigrationParameters,
  startMirrors,
  stopMirrors,
} from "./qmp-steps";

/** QEMU is asked this often (the switch-over is noticed soon); progress lines go out every PROGRESS_MS. */
const POLL_MS = 100;
const PROGRESS_MS = 500;
/** A mirror or the memory that stops moving for this long is given up (the guest stays here). */
const STALL_MS = 10 * 60_000;

export interface OutgoingRun {
  cancelled: boolean;
  done: Promise<unknown>;
}

/** Refusals before anything starts (409): the VM must be running, idle and free of internal snapshots. */
async function checkMovable(host: MigrationHost, vm: Vm, q: QmpClient | null): Promise<QmpClient> {
  if (vm.migration) throw new AgentError("conflict", `VM ${vm.id} is already migrating (${vm.migration.role})`);
  if (!q) throw new AgentError("conflict", `VM ${vm.id} is not running; a stopped VM moves cold (disk copy)`);
  const { status } = await q.queryStatus();
  if (status !== "running") throw new AgentError("conflict", `VM ${vm.id} is ${status}, not running`);
  const jobs = await q.execute<Array<{ id: string; type: string }>>("query-jobs");
  if (jobs.length > 0)
    throw new AgentError(
      "conflict",
      `VM ${vm.id} has a ${jobs[0]!.type} job running (a snapshot?); wait for it to end`,
    );
  const snaps = await listImageSnapshots(vm.paths.disk, { forceShare: true, qemuImg: host.ctx.opts.qemuImg });
  if (snaps.length > 0)
    throw new AgentError(
      "conflict",
      `VM ${vm.id} has ${snaps.length} snapshot${snaps.length === 1 ? "" : "s"}, which do not survive a move: delete its ${snaps.length} snapshots first`,
    );
  return q;
}

/** Source node per disk; the target takes volumes on ports in spec order, so ours must match. */
function diskNodes(vm: Vm, exports: Array<{ disk: string; name: string }>): DiskNode[] {
  const out: DiskNode[] = [{ disk: "root", node: "disk0" }];
  for (const [i, v] of vm.spec.volumes.entries()) {
    const node = volumeNode(vm, v.id);
    if (node !== `vol${i}`)
      throw new AgentError(
        "conflict",
        `volume ${v.id} of VM ${vm.id} sits on root port ${node ?? "none"}, not vol${i}: restart the VM with its volumes re-attached in order before moving it`,
      );
    out.push({ disk: v.id, node });
  }
  for (const d of out) {
    const exp = exports.find((e) => e.disk === d.disk);
    if (!exp) throw new AgentError("invalid", `the target exports no disk ${d.disk}`);
    d.disk = exp.name; // from here on: the export's name
  }
  return out;
}

/**
 * Runs the whole move; the caller holds the VM's lock. `run.cancelled` (set by cancel) stops it
 * at the next poll. On any failure the guest is resumed here and the error is thrown.
 */
export async function runOutgoing(
  host: MigrationHost,
  vm: Vm,
  input: MigrationOutgoing,
  run: OutgoingRun,
  onProgress: (event: MigrationProgressEvent) => void,
): Promise<MigrationResult> {
  const { ctx } = host;
  const started = Date.now();
  const emit = throttled(onProgress);
  const q0 = await ensureQmp(ctx, vm, 5_000);
  const q = await checkMovable(host, vm, q0);
  const disks = diskNodes(vm, input.target.nbd.exports);
  vm.migration = { role: "outgoing", phase: "mirror" };
  host.emitChange(vm.id);
  try {
    await startMirrors(q, input.target.nbd, disks, input.bandwidth);
    const diskBytes = await waitMirrorsReady(q, disks, run, emit);
    vm.migration.phase = "memory";
    await setMigrationParameters(q, input.downtimeLimitMs, input.bandwidth);
    // Under TCG the guest is paused for the memory copy (ADR 064): QEMU 7.2's live copy of an
    // emulated guest doing I/O lost writes (guest oops on the target, 4 in 20 runs). A failure
    // below resumes it here (rollBack).
    const memoryCopy = memoryCopyFor(vm);
    const pausedAt = Date.now();
    if (memoryCopy === "paused") await q.stop();
    await q.execute("migrate", { uri: input.target.migrationUri });
    const mig = await waitMigrated(q, run, emit);
    // Memory and device state are across and the guest is paused: the READY mirrors hold the same
    // blocks on both sides, so cancelling them now leaves a consistent copy on the target.
    emit({
      type: "progress",
      phase: "completing",
      percent: 100,
      transferredBytes: mig.ram?.transferred ?? 0,
      remainingBytes: 0,
    });
    await stopMirrors(q, disks, false);
    vm.migration.phase = "completed";
    host.emitChange(vm.id);
    const result = {
      totalMs: Date.now() - started,
      downtimeMs: Math.max(0, Math.round(memoryCopy === "paused" ? Date.now() - pausedAt : (mig.downtime ?? 0))),
      ramBytes: mig.ram?.transferred ?? 0,
      diskBytes,
      memoryCopy,
    };
    ctx.log("migration outgoing completed", { id: vm.id, ...result });
    return result;
  } catch (err) {
    ctx.log("migration outgoing failed; resuming the guest here", { id: vm.id, error: errMessage(err) });
    await rollBack(q, disks);
    vm.migration = undefined;
    host.emitChange(vm.id);
    if (run.cancelled)
      throw new AgentError("conflict", `migration of VM ${vm.id} was cancelled; it keeps running here`);
    throw toAgentError(err, `migration of VM ${vm.id} failed; it keeps running here`);
  }
}

/**
 * How the memory moves: "live" (pre-copy while the guest runs) with KVM, "paused" under TCG,
 * where QEMU 7.2 missed guest writes made during the live copy (ADR 064).
 */
export function memoryCopyFor(vm: Pick<Vm, "state">): MigrationResult["memoryCopy"] {
  return vm.state.accel === "kvm" ? "live" : "paused";
}

/** Stops whatever is in flight and makes sure the guest runs again on this host. */
export async function rollBack(q: QmpClient, disks: MirrorNode[]): Promise<void> {
  await q.execute("migrate_cancel").catch(() => {});
  // migrate_cancel returns before the migration thread has stopped: wait for it to leave "active".
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const st = (await queryMigrate(q).catch(() => ({ status: "none" }))).status ?? "none";
    if (!["active", "setup", "cancelling", "device", "pre-switchover", "wait-unplug"].includes(st)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await stopMirrors(q, disks, true);
  const { status } = await q.queryStatus().catch(() => ({ status: "unknown" }));
  if (status !== "running") await q.cont().catch(() => {});
}

async function waitMirrorsReady(
  q: QmpClient,
  disks: DiskNode[],
  run: OutgoingRun,
  onProgress: (e: MigrationProgressEvent) => void,
): Promise<number> {
  let last = -1;
  let lastMove = Date.now();
  for (;;) {
    if (run.cancelled) throw new Error("cancelled");
    const jobs = await queryMirrors(q, disks);
    // A mirror that failed concludes and is dismissed: its absence is the error.
    if (jobs.length < disks.length) throw new AgentError("unavailable", "a disk mirror to the target failed");
    const len = jobs.reduce((s, j) => s + j.len, 0);
    const done = jobs.reduce((s, j) => s + j.offset, 0);
    onProgress({
      type: "progress",
      phase: "mirror",
      percent: len > 0 ? Math.min(100, (done / len) * 100) : 100,
      transferredBytes: done,
      remainingBytes: Math.max(0, len - done),
    });
    if (jobs.every((j) => j.ready === true)) return len;
    if (done !== last) [last, lastMove] = [done, Date.now()];
    else if (Date.now() - lastMove > STALL_MS)
      throw new AgentError("unavailable", "the disk mirror stopped making progress");
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

async function waitMigrated(
  q: QmpClient,
  run: OutgoingRun,
  onProgress: (e: MigrationProgressEvent) => void,
): Promise<ReturnType<typeof queryMigrate> extends Promise<infer T> ? T : never> {
  let last = -1;
  let lastMove = Date.now();
  for (;;) {
    if (run.cancelled) throw new Error("cancelled");
    const m = await queryMigrate(q);
    if (m.status === "completed") return m;
    if (m.status === "failed" || m.status === "cancelled")
      throw new AgentError("unavailable", `QEMU migration ${m.status}${m["error-desc"] ? `: ${m["error-desc"]}` : ""}`);
    const ram = m.ram ?? { transferred: 0, remaining: 0, total: 0 };
    onProgress({
      type: "progress",
      phase: m.status === "device" || m.status === "pre-switchover" ? "completing" : "memory",
      percent: ram.total > 0 ? Math.min(100, ((ram.total - ram.remaining) / ram.total) * 100) : 0,
      transferredBytes: ram.transferred,
      remainingBytes: ram.remaining,
    });
    if (ram.transferred !== last) [last, lastMove] = [ram.transferred, Date.now()];
    else if (Date.now() - lastMove > STALL_MS)
      throw new AgentError("unavailable", "the memory migration stopped making progress");
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** Passes the first event and then one per PROGRESS_MS; "completing" always goes through. */
function throttled(fn: (e: MigrationProgressEvent) => void): (e: MigrationProgressEvent) => void {
  let last = 0;
  return (e) => {
    const now = Date.now();
    if (e.phase !== "completing" && now - last < PROGRESS_MS) return;
    last = now;
    fn(e);
  };
}
