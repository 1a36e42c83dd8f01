// Snapshot and volume benchmark (register in bench/run.ts as `snapshots: benchSnapshots`):
// VmManager's snapshot calls (lock, qcow2 snapshot list, metadata file, hardware check, job
// polling) and volume attach/detach through a spec PUT (checks, state file, hot-plug) versus the
// bare QMP commands they wrap, on the same running guest: a kernel-boot fixture of the host's
// arch under TCG (1 vCPU, 256 MiB). First the manager's side, then the manager detaches and a
// plain QmpClient repeats the same operations with other snapshot names.
//
// Everything runs under a temp dir; the QEMU started here is quit (and SIGKILLed if need be) in
// `finally`. Knob: BENCH_SNAPSHOT_RUNS (5).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { normalizeArch } from "../lib/arch";
import { createQcow2, QmpClient, runQmpJob, volumeBlockdev, volumeDevice } from "../agent/src/qemu";
import { VmManager } from "../agent/src/vm";
import { percentile, printTable, timeRuns } from "./table";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const RUNS = Math.max(1, Number(process.env.BENCH_SNAPSHOT_RUNS ?? 5));
const JOB_TIMEOUT_MS = 120_000;

function which(bin: string): string | null {
  for (const dir of (process.env.PATH ?? "").split(":"))
    if (fs.existsSync(path.join(dir, bin))) return path.join(dir, bin);
  return null;
}

export async function benchSnapshots(): Promise<void> {
  const arch = normalizeArch(os.machine()) ?? "x86_64";
  const fxDir = path.join(process.env.POLYARCH_FIXTURES_DIR ?? path.join(ROOT, ".cache/fixtures"), arch);
  const qemu = which(`qemu-system-${arch}`);
  if (!fs.existsSync(path.join(fxDir, "manifest.json")) || !qemu || !which("qemu-img")) {
    console.log(`\nsnapshot benchmark: needs qemu-system-${arch}, qemu-img and the ${arch} boot fixture: skipping`);
    return;
  }
  const m = JSON.parse(fs.readFileSync(path.join(fxDir, "manifest.json"), "utf8")) as Record<string, string>;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pa-bsnap-"));
  const mgr = new VmManager({
    stateDir: dir,
    hostArch: arch,
    kvm: false,
    qemuBinaries: { [arch]: qemu },
    firmware: {},
    resolveImage: async () => ({ kernel: path.join(fxDir, m.kernel!), initrd: path.join(fxDir, m.initrd!) }),
  });
  const id = "bench";
  let pid: number | null = null;
  let qmp: QmpClient | null = null;
  try {
    const st = await mgr.apply(id, {
      name: "bench",
      arch,
      vcpus: 1,
      memoryMb: 256,
      diskGb: 1,
      boot: { type: "kernel", imageId: "fixture", cmdline: m.cmdline ?? "" },
    });
    pid = st.status.pid ?? null;
    const serialLog = path.join(dir, "vms", id, "serial.log");
    const deadline = Date.now() + 120_000;
    while (!fs.readFileSync(serialLog, "utf8").includes(m.marker!)) {
      if (Date.now() > deadline) throw new Error("guest did not boot to its marker");
      await new Promise((r) => setTimeout(r, 200));
    }

    // Volumes first (a memory snapshot refuses attached volumes): attach = PUT the spec with the
    // volume, detach = PUT it without; the guest releases the device (PCIe attention button).
    const spec = (await mgr.getSpec(id))!;
    await mgr.putVolume("benchvol", { sizeGb: 1 });
    const agentAttach: number[] = [];
    const agentDetach: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      let t0 = performance.now();
      await mgr.apply(id, { ...spec, volumes: [{ id: "benchvol" }] });
      agentAttach.push(performance.now() - t0);
      t0 = performance.now();
      await mgr.apply(id, { ...spec, volumes: [] });
      agentDetach.push(performance.now() - t0);
    }

    let n = 0;
    const agent = {
      disk: await timeRuns(RUNS, () => mgr.createSnapshot(id, { id: `d${n++}`, memory: false })),
      memory: await timeRuns(RUNS, () => mgr.createSnapshot(id, { id: `m${n++}`, memory: true })),
      revert: await timeRuns(RUNS, () => mgr.revertSnapshot(id, `m${RUNS}`)),
      list: await timeRuns(RUNS, () => mgr.snapshots(id)),
      delete: await timeRuns(RUNS, () => mgr.deleteSnapshot(id, `d${--n - RUNS}`)),
    };

    const sock = (await mgr.consolePaths(id)).qmpSocket;
    await mgr.close(); // detach; the guest keeps running
    qmp = await QmpClient.connect(sock);
    const q = qmp;
    const rawVol = path.join(dir, "raw-vol.qcow2");
    await createQcow2(rawVol, { sizeGb: 1 });
    const rawAttach: number[] = [];
    const rawDetach: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      let t0 = performance.now();
      await q.blockdevAdd(volumeBlockdev(7, rawVol));
      await q.deviceAdd(volumeDevice(7, "rawvol"));
      rawAttach.push(performance.now() - t0);
      t0 = performance.now();
      const node = volumeDevice(7, "rawvol").id!;
      const gone = q.waitForEvent("DEVICE_DELETED", (e) => e.data?.device === node, 60_000);
      await q.deviceDel(node);
      if (!(await gone)) throw new Error("the guest did not release the raw volume");
      await q.blockdevDel(node).catch(() => {});
      rawDetach.push(performance.now() - t0);
    }
    let r = 0;
    const raw = {
      disk: await timeRuns(RUNS, () =>
        q.execute("blockdev-snapshot-internal-sync", { device: "disk0", name: `raw-d${r++}` }),
      ),
      memory: await timeRuns(RUNS, () =>
        runQmpJob(
          q,
          "snapshot-save",
          { tag: `raw-m${r++}`, vmstate: "disk0", devices: ["disk0"] },
          { timeoutMs: JOB_TIMEOUT_MS },
        ),
      ),
      revert: await timeRuns(RUNS, () =>
        runQmpJob(
          q,
          "snapshot-load",
          { tag: `raw-m${RUNS}`, vmstate: "disk0", devices: ["disk0"] },
          { timeoutMs: JOB_TIMEOUT_MS },
        ),
      ),
      list: await timeRuns(RUNS, () => q.queryBlock()),
      delete: await timeRuns(RUNS, () =>
        q.execute("blockdev-snapshot-delete-internal-sync", { device: "disk0", name: `raw-d${--r - RUNS}` }),
      ),
    };

    const mine = { ...agent, "volume attach": agentAttach, "volume detach": agentDetach };
    const bare = { ...raw, "volume attach": rawAttach, "volume detach": rawDetach };
    const rows = (Object.keys(mine) as Array<keyof typeof mine>).map((k) => [
      k,
      percentile(mine[k], 50),
      percentile(bare[k], 50),
      percentile(mine[k], 50) - percentile(bare[k], 50),
    ]);
    printTable(
      `Snapshots and volume hot-plug on a running ${arch} guest (TCG, 256 MiB), ${RUNS} runs each, median ms: VmManager vs the bare QMP commands`,
      ["operation", "VmManager", "raw QMP", "overhead"],
      rows,
    );
  } finally {
    if (qmp) await qmp.quit({ timeoutMs: 3_000 }).catch(() => {});
    await mgr.close().catch(() => {});
    if (pid !== null) {
      await new Promise((res) => setTimeout(res, 500));
      try {
        // only our QEMU: its command line names our temp dir
        if (fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(dir)) process.kill(pid, "SIGKILL");
      } catch {
        /* gone */
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
