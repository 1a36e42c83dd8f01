// Snapshots of a VM's root disk: qcow2 internal snapshots in its overlay (disk.qcow2), optionally
// with the guest's memory and device state (ADR 031). Contract: lib/schemas/agent-api.ts
// ("Snapshots of a VM's root disk"). Called by VmManager under the VM's lock.
//
// The qcow2 file is the truth about which snapshots exist (QMP query-block while QEMU holds it,
// qemu-img info otherwise); snapshots.json next to the VM's state adds what qcow2 does not keep:
// the VM's hardware when a memory snapshot was taken, so a revert that cannot load is refused
// up front instead of leaving a half-restored guest.
import { promises as fsp } from "node:fs";
import path from "node:path";
import { z } from "zod";
import { type AgentSnapshot, safeIdSchema, type VmSpec } from "../../../lib/schemas/agent-api";
import {
  gbToBytes,
  type ImageSnapshotInfo,
  imageInfo,
  imageSnapshot,
  listImageSnapshots,
  type QmpClient,
  resizeImage,
  runQmpJob,
} from "../qemu";
import { ensureQmp, onProcessGone } from "./attach";
import { AgentError, toAgentError, zodMessage } from "./errors";
import { killNow, startVm } from "./power";
import { pidAlive, writeFileAtomic } from "./proc";
import { saveSpec, type Vm, type VmContext } from "./state";
import { specDisplay } from "./validate";

/** The QMP node name of the root disk (agent/src/qemu/argv.ts diskArgs). */
const ROOT_NODE = "disk0";
/**
 * Saving/loading guest RAM takes seconds to minutes (bounded by the RAM size). Below the
 * controller's 10-minute agent call timeout, so the answer arrives before the caller gives up.
 */
const MEMORY_JOB_TIMEOUT_MS = 8 * 60_000;

// ---- names and metadata --------------------------------------------------------------------

/**
 * The qcow2 snapshot name for a snapshot id. The prefix keeps it from ever being all digits:
 * qemu-img and QEMU's snapshot-load resolve a digit string as qcow2's numeric id first.
 */
export function snapshotTag(id: string): string {
  return `pa-${checkedId(id)}`;
}

function checkedId(id: string): string {
  const r = safeIdSchema.safeParse(id);
  if (!r.success) throw new AgentError("invalid", `invalid snapshot id: ${zodMessage(r.error.issues)}`);
  return r.data;
}

/** What a memory snapshot can only be loaded into: the same devices and RAM. */
const hardwareSchema = z.object({
  memoryMb: z.number(),
  vcpus: z.number(),
  display: z.string(),
  nics: z.array(z.string()),
});
type Hardware = z.output<typeof hardwareSchema>;

const metaFileSchema = z.object({
  version: z.literal(1),
  snapshots: z.record(
    z.string(),
    z.object({ memory: z.boolean(), createdAt: z.string(), hardware: hardwareSchema.optional() }),
  ),
});
type MetaFile = z.output<typeof metaFileSchema>;

function hardwareOf(spec: VmSpec): Hardware {
  return {
    memoryMb: spec.memoryMb,
    vcpus: spec.vcpus,
    display: specDisplay(spec),
    nics: spec.nics.map((n) => `${n.id}/${n.mac}`),
  };
}

function metaPath(vm: Vm): string {
  return path.join(vm.paths.dir, "snapshots.json");
}

async function readMeta(vm: Vm): Promise<MetaFile> {
  const raw = await fsp.readFile(metaPath(vm), "utf8").catch(() => null);
  if (raw !== null) {
    try {
      const parsed = metaFileSchema.safeParse(JSON.parse(raw));
      if (parsed.success) return parsed.data;
    } catch {
      /* unreadable: the qcow2 still says which snapshots exist */
    }
    // Unreadable metadata costs only createdAt and the hardware check; the disk is the truth.
  }
  return { version: 1, snapshots: {} };
}

async function writeMeta(vm: Vm, meta: MetaFile): Promise<void> {
  await writeFileAtomic(metaPath(vm), JSON.stringify(meta, null, 2) + "\n");
}

// ---- where the truth is: QEMU while it runs, the file otherwise -----------------------------

/** QMP of the VM's running QEMU; null when no QEMU runs; 503 when it runs but does not answer. */
async function runningQmp(ctx: VmContext, vm: Vm): Promise<QmpClient | null> {
  if (vm.pid === null) return null;
  if (!pidAlive(vm.pid)) {
    await onProcessGone(ctx, vm);
    return null;
  }
  const q = await ensureQmp(ctx, vm, 5_000);
  if (!q) throw new AgentError("unavailable", `VM ${vm.id} runs but its QMP socket does not answer`);
  return q;
}

interface QueryBlockEntry {
  inserted?: { "node-name"?: string; image?: { snapshots?: ImageSnapshotInfo[] } };
}

async function diskSnapshots(ctx: VmContext, vm: Vm, q: QmpClient | null): Promise<ImageSnapshotInfo[]> {
  try {
    if (q) {
      const blocks = (await q.queryBlock()) as QueryBlockEntry[];
      const root = blocks.find((b) => b.inserted?.["node-name"] === ROOT_NODE);
      if (!root) throw new Error(`QEMU has no block node ${ROOT_NODE}`);
      return root.inserted?.image?.snapshots ?? [];
    }
    return await listImageSnapshots(vm.paths.disk, { forceShare: true, qemuImg: ctx.opts.qemuImg });
  } catch (err) {
    throw toAgentError(err, `could not read the snapshots of VM ${vm.id}`);
  }
}

function toAgentSnapshot(id: string, s: ImageSnapshotInfo, meta: MetaFile): AgentSnapshot {
  const m = meta.snapshots[id];
  const vmStateBytes = s["vm-state-size"] ?? 0;
  return {
    id,
    memory: vmStateBytes > 0,
    createdAt: m?.createdAt ?? new Date(s["date-sec"] * 1000).toISOString(),
    vmStateBytes,
  };
}

/** The agent's snapshots on the disk (qcow2 snapshots not named by the agent are left out). */
function agentSnapshots(list: ImageSnapshotInfo[], meta: MetaFile): AgentSnapshot[] {
  const out: AgentSnapshot[] = [];
  for (const s of list) {
    if (!s.name.startsWith("pa-")) continue;
    const id = s.name.slice(3);
    if (safeIdSchema.safeParse(id).success) out.push(toAgentSnapshot(id, s, meta));
  }
  return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
}

async function findSnapshot(ctx: VmContext, vm: Vm, q: QmpClient | null, id: string): Promise<ImageSnapshotInfo> {
  const tag = snapshotTag(id);
  const found = (await diskSnapshots(ctx, vm, q)).find((s) => s.name === tag);
  if (!found) throw new AgentError("not_found", `VM ${vm.id} has no snapshot ${id}`);
  return found;
}

// ---- the operations --------------------------------------------------------------------------

export async function listSnapshots(ctx: VmContext, vm: Vm): Promise<AgentSnapshot[]> {
  const q = await runningQmp(ctx, vm);
  const list = await diskSnapshots(ctx, vm, q);
  const meta = await readMeta(vm);
  const snaps = agentSnapshots(list, meta);
  // Forget metadata of snapshots that are gone (e.g. removed with qemu-img by hand).
  const live = new Set(snaps.map((s) => s.id));
  const stale = Object.keys(meta.snapshots).filter((id) => !live.has(id));
  if (stale.length) {
    for (const id of stale) delete meta.snapshots[id];
    await writeMeta(vm, meta).catch(() => {});
  }
  return snaps;
}

export async function createSnapshot(
  ctx: VmContext,
  vm: Vm,
  input: { id: string; memory: boolean },
): Promise<AgentSnapshot> {
  const id = checkedId(input.id);
  const tag = snapshotTag(id);
  const q = await runningQmp(ctx, vm);
  if ((await diskSnapshots(ctx, vm, q)).some((s) => s.name === tag))
    throw new AgentError("conflict", `VM ${vm.id} already has a snapshot ${id}`);
  if (input.memory) {
    if (!q) throw new AgentError("conflict", "a memory snapshot needs a running VM");
    refuseMemoryWithVolumes(vm, "take a memory snapshot of");
  }
  const createdAt = new Date().toISOString();
  try {
    if (input.memory) {
      // Only the root disk: the UEFI vars (raw pflash), the CD and the seed cannot hold snapshots.
      await runQmpJob(
        q!,
        "snapshot-save",
        { tag, vmstate: ROOT_NODE, devices: [ROOT_NODE] },
        { timeoutMs: MEMORY_JOB_TIMEOUT_MS },
      );
    } else if (q) {
      await q.execute("blockdev-snapshot-internal-sync", { device: ROOT_NODE, name: tag }, { timeoutMs: 120_000 });
    } else {
      await imageSnapshot("create", vm.paths.disk, tag, { qemuImg: ctx.opts.qemuImg });
    }
  } catch (err) {
    await removeLeftover(ctx, vm, tag);
    throw toAgentError(err, `snapshot ${id} of VM ${vm.id} failed`);
  }
  try {
    const meta = await readMeta(vm);
    meta.snapshots[id] = {
      memory: input.memory,
      createdAt,
      ...(input.memory ? { hardware: hardwareOf(vm.spec) } : {}),
    };
    await writeMeta(vm, meta);
    const made = await findSnapshot(ctx, vm, await runningQmp(ctx, vm), id);
    ctx.log("snapshot created", { id: vm.id, snapshot: id, memory: input.memory });
    return toAgentSnapshot(id, made, meta);
  } catch (err) {
    // No half-made snapshot: without its metadata it would be reported without its hardware.
    await deleteTag(ctx, vm, await runningQmp(ctx, vm).catch(() => null), tag).catch(() => {});
    throw toAgentError(err, `snapshot ${id} of VM ${vm.id} failed`);
  }
}

/** A failed save may leave the snapshot half made (e.g. the disk filled up while saving RAM). */
async function removeLeftover(ctx: VmContext, vm: Vm, tag: string): Promise<void> {
  try {
    const q = await runningQmp(ctx, vm);
    if ((await diskSnapshots(ctx, vm, q)).some((s) => s.name === tag)) await deleteTag(ctx, vm, q, tag);
  } catch (err) {
    ctx.log("could not remove a failed snapshot", { id: vm.id, tag, error: String(err) });
  }
}

async function deleteTag(ctx: VmContext, vm: Vm, q: QmpClient | null, tag: string): Promise<void> {
  // By name only (no id), so QEMU never mistakes it for qcow2's numeric id; frees the RAM image too.
  if (q)
    await q.execute("blockdev-snapshot-delete-internal-sync", { device: ROOT_NODE, name: tag }, { timeoutMs: 120_000 });
  else await imageSnapshot("delete", vm.paths.disk, tag, { qemuImg: ctx.opts.qemuImg });
}

function refuseMemoryWithVolumes(vm: Vm, what: string): void {
  // Volumes are not part of the snapshot: a guest resumed from old RAM over newer volume contents
  // would corrupt its file systems there.
  if (vm.spec.volumes.length > 0) {
    throw new AgentError(
      "conflict",
      `cannot ${what} VM ${vm.id} while data volumes are attached (${vm.spec.volumes.map((v) => v.id).join(", ")}): ` +
        "its memory would not match their contents; detach them or use a disk-only snapshot",
    );
  }
}

export async function revertSnapshot(ctx: VmContext, vm: Vm, snapshotId: string): Promise<void> {
  const id = checkedId(snapshotId);
  const tag = snapshotTag(id);
  let q = await runningQmp(ctx, vm);
  const snap = await findSnapshot(ctx, vm, q, id);
  if (snap["vm-state-size"] > 0) {
    refuseMemoryWithVolumes(vm, "revert to a memory snapshot of");
    const then = (await readMeta(vm)).snapshots[id]?.hardware;
    const now = hardwareOf(vm.spec);
    if (then && JSON.stringify(then) !== JSON.stringify(now)) {
      throw new AgentError(
        "conflict",
        `snapshot ${id} holds the memory of VM ${vm.id} with ${describeHardware(then)}; it now has ${describeHardware(now)}: ` +
          "change it back first, or revert to a disk-only snapshot",
      );
    }
    if (!q) {
      // The saved guest was running: start QEMU (it boots for a moment) and replace its state.
      await startVm(ctx, vm);
      if (vm.spec.powerState !== "running") {
        vm.spec = { ...vm.spec, powerState: "running" };
        await saveSpec(vm);
      }
      q = await runningQmp(ctx, vm);
      if (!q) throw new AgentError("unavailable", `VM ${vm.id} exited right after its start`);
    }
    try {
      await runQmpJob(
        q,
        "snapshot-load",
        { tag, vmstate: ROOT_NODE, devices: [ROOT_NODE] },
        { timeoutMs: MEMORY_JOB_TIMEOUT_MS },
      );
    } catch (err) {
      // QEMU leaves the guest stopped when loading fails: its RAM may be half restored.
      throw toAgentError(err, `revert of VM ${vm.id} to snapshot ${id} failed; the VM is paused (power it off)`);
    }
    // "the guest resumes where it was" (also when it was paused before the revert)
    if ((await q.queryStatus()).status !== "running") await q.cont();
    await growToSpec(ctx, vm, q);
  } else {
    const wasRunning = q !== null;
    // The current state is being thrown away: no point in a graceful shutdown.
    if (wasRunning) await killNow(ctx, vm);
    try {
      await imageSnapshot("apply", vm.paths.disk, tag, { qemuImg: ctx.opts.qemuImg });
      await growToSpec(ctx, vm, null);
    } catch (err) {
      throw toAgentError(err, `revert of VM ${vm.id} to snapshot ${id} failed`);
    } finally {
      if (wasRunning) await startVm(ctx, vm);
    }
  }
  ctx.log("snapshot reverted", { id: vm.id, snapshot: id });
}

function describeHardware(h: Hardware): string {
  return `${h.memoryMb} MiB, ${h.vcpus} vCPU, display ${h.display}, NICs [${h.nics.join(", ")}]`;
}

/** A snapshot taken before the disk grew brings back its old size; the spec's size wins. */
async function growToSpec(ctx: VmContext, vm: Vm, q: QmpClient | null): Promise<void> {
  const want = gbToBytes(vm.spec.diskGb);
  const info = await imageInfo(vm.paths.disk, { format: "qcow2", forceShare: true, qemuImg: ctx.opts.qemuImg });
  if (info["virtual-size"] >= want) return;
  if (q) await q.blockResize(ROOT_NODE, want);
  else await resizeImage(vm.paths.disk, vm.spec.diskGb, { format: "qcow2", qemuImg: ctx.opts.qemuImg });
}

export async function deleteSnapshot(ctx: VmContext, vm: Vm, snapshotId: string): Promise<void> {
  const id = checkedId(snapshotId);
  const q = await runningQmp(ctx, vm);
  await findSnapshot(ctx, vm, q, id);
  try {
    await deleteTag(ctx, vm, q, snapshotTag(id));
  } catch (err) {
    throw toAgentError(err, `could not delete snapshot ${id} of VM ${vm.id}`);
  }
  const meta = await readMeta(vm);
  if (meta.snapshots[id]) {
    delete meta.snapshots[id];
    await writeMeta(vm, meta).catch(() => {});
  }
  ctx.log("snapshot deleted", { id: vm.id, snapshot: id });
}

/** For disk-export.ts: the snapshot's qcow2 name; 404 when the VM has no such snapshot. */
export async function existingSnapshotTag(ctx: VmContext, vm: Vm, snapshotId: string): Promise<string> {
  const q = await runningQmp(ctx, vm);
  return (await findSnapshot(ctx, vm, q, snapshotId)).name;
}

/** For disk-export.ts: whether a QEMU currently runs the VM. */
export async function isRunning(ctx: VmContext, vm: Vm): Promise<boolean> {
  return (await runningQmp(ctx, vm).catch(() => "unreachable" as const)) !== null;
}
