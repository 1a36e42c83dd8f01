// Live migration benchmark (register in bench/run.ts as `migration: benchMigration`): a 512 MiB
// x86_64 kernel-boot guest under TCG with a 1 GiB root disk moves back and forth between two
// VmManagers on two state dirs (the agent path: incoming, outgoing, complete, release), then the
// same QMP sequence (agent/src/migration/qmp-steps.ts) runs by hand between two QEMUs started
// with the agent's own command line. Total = from preparing the target to the guest running
// there; downtime = the guest's pause, which under TCG covers the whole memory copy (the agent
// pauses an emulated guest first, ADR 064; the hand path does the same). Median of
// BENCH_MIGRATION_RUNS (3).
//
// Everything lives under one temp dir; every QEMU whose command line names it is SIGKILLed in
// `finally`, whatever happened.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { migrationIncomingSchema, migrationOutgoingSchema } from "../lib/schemas/agent-migration";
import type { VmSpecInput } from "../lib/schemas/agent-api";
import {
  type DiskNode,
  freePort,
  queryMigrate,
  queryMirrors,
  setMigrationParameters,
  startMirrors,
  startNbdExports,
  stopMirrors,
  stopNbdServer,
  tcpUri,
} from "../agent/src/migration/qmp-steps";
import { createQcow2, QmpClient } from "../agent/src/qemu";
import { VmManager } from "../agent/src/vm";
import { percentile, printTable } from "./table";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const RUNS = Math.max(1, Number(process.env.BENCH_MIGRATION_RUNS ?? 3));
const GiB = 1024 ** 3;
const ID = "bench-mig";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function which(bin: string): string | null {
  for (const dir of (process.env.PATH ?? "").split(":"))
    if (fs.existsSync(path.join(dir, bin))) return path.join(dir, bin);
  return null;
}

async function waitForText(file: string, text: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(fs.existsSync(file) && fs.readFileSync(file, "utf8").includes(text))) {
    if (Date.now() > deadline) throw new Error(`${text} not in ${file} within ${timeoutMs} ms`);
    await sleep(100);
  }
}

function killQemusUnder(dir: string): void {
  for (const ent of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(ent)) continue;
    try {
      const argv = fs.readFileSync(`/proc/${ent}/cmdline`, "utf8");
      if (argv.includes("qemu-system-") && argv.includes(dir)) process.kill(Number(ent), "SIGKILL");
    } catch {
      /* gone */
    }
  }
}

export async function benchMigration(): Promise<void> {
  const arch = "x86_64";
  const fxDir = path.join(process.env.POLYARCH_FIXTURES_DIR ?? path.join(ROOT, ".cache/fixtures"), arch);
  const qemu = which(`qemu-system-${arch}`);
  if (!fs.existsSync(path.join(fxDir, "manifest.json")) || !qemu || !which("qemu-img")) {
    console.log(`\nmigration benchmark: needs qemu-system-${arch}, qemu-img and the ${arch} boot fixture: skipping`);
    return;
  }
  const m = JSON.parse(fs.readFileSync(path.join(fxDir, "manifest.json"), "utf8")) as Record<string, string>;
  const base = fs.mkdtempSync(path.join(os.tmpdir(), "pa-bmig-"));
  const manager = (name: string) =>
    new VmManager({
      stateDir: path.join(base, name),
      hostArch: arch,
      kvm: false,
      qemuBinaries: { [arch]: qemu },
      firmware: {},
      resolveImage: async () => ({ kernel: path.join(fxDir, m.kernel!), initrd: path.join(fxDir, m.initrd!) }),
    });
  const hosts = [manager("a"), manager("b")];
  const clients: QmpClient[] = [];
  try {
    const spec: VmSpecInput = {
      name: "bench-mig",
      arch,
      vcpus: 1,
      memoryMb: 512,
      diskGb: 1,
      boot: { type: "kernel", imageId: "fixture", cmdline: m.cmdline ?? "" },
    };
    await hosts[0]!.apply(ID, spec);
    const vmDirA = path.join(base, "a", "vms", ID);
    await waitForText(path.join(vmDirA, "serial.log"), m.marker!, 180_000);
    const agentArgv = JSON.parse(fs.readFileSync(path.join(vmDirA, "qemu.argv.json"), "utf8")) as string[];

    // The agent path, back and forth.
    const agent = { total: [] as number[], downtime: [] as number[] };
    for (let i = 0; i < RUNS; i++) {
      const [src, dst] = i % 2 === 0 ? [hosts[0]!, hosts[1]!] : [hosts[1]!, hosts[0]!];
      const t0 = performance.now();
      const target = await dst.migrations.incoming(
        ID,
        migrationIncomingSchema.parse({
          spec: { ...spec, generation: i + 2 },
          disks: [{ name: "root", sizeBytes: GiB }],
        }),
        "127.0.0.1",
      );
      const result = await src.migrations.outgoing(ID, migrationOutgoingSchema.parse({ target }), () => {});
      await dst.migrations.complete(ID);
      agent.total.push(performance.now() - t0);
      agent.downtime.push(result.downtimeMs);
      await src.migrations.release(ID);
    }
    await hosts[RUNS % 2]!.delete(ID);

    // By hand: the agent's command line with our own dirs, the same QMP steps.
    const hand = { total: [] as number[], downtime: [] as number[] };
    const start = async (dir: string, incoming: boolean): Promise<QmpClient> => {
      fs.mkdirSync(dir, { recursive: true });
      await createQcow2(path.join(dir, "disk.qcow2"), { sizeGb: 1 });
      const argv = agentArgv.slice(1).map((a) => a.split(vmDirA).join(dir));
      const child = spawn(agentArgv[0]!, [...argv, ...(incoming ? ["-S", "-incoming", "defer"] : [])], {
        cwd: dir,
        detached: true,
        stdio: "ignore",
      });
      child.unref();
      const sock = path.join(dir, "qmp.sock");
      for (let t = 0; t < 300 && !fs.existsSync(sock); t++) await sleep(10);
      const q = await QmpClient.connect(sock, { connectTimeoutMs: 10_000 });
      clients.push(q);
      return q;
    };
    let srcDir = path.join(base, "h0");
    let src = await start(srcDir, false);
    await waitForText(path.join(srcDir, "serial.log"), m.marker!, 180_000);
    const disks: DiskNode[] = [{ disk: "root", node: "disk0" }];
    for (let i = 0; i < RUNS; i++) {
      const dstDir = path.join(base, `h${i + 1}`);
      const t0 = performance.now();
      const dst = await start(dstDir, true);
      const nbdPort = await freePort("127.0.0.1");
      await startNbdExports(dst, "127.0.0.1", nbdPort, disks);
      const uri = tcpUri("127.0.0.1", await freePort("127.0.0.1"));
      await dst.execute("migrate-incoming", { uri });
      await startMirrors(src, { host: "127.0.0.1", port: nbdPort }, disks, 0);
      while (!(await queryMirrors(src, disks)).every((j) => j.ready)) await sleep(100);
      await setMigrationParameters(src, 300, 0);
      const pausedAt = performance.now();
      await src.stop(); // as the agent does for a TCG guest (ADR 064)
      await src.execute("migrate", { uri });
      let mig = await queryMigrate(src);
      while (mig.status !== "completed") {
        if (mig.status === "failed") throw new Error(`hand migration failed: ${mig["error-desc"]}`);
        await sleep(100);
        mig = await queryMigrate(src);
      }
      const pausedMs = performance.now() - pausedAt;
      await stopMirrors(src, disks, false);
      await stopNbdServer(dst);
      await dst.cont();
      hand.total.push(performance.now() - t0);
      hand.downtime.push(pausedMs);
      await src.quit({ timeoutMs: 3_000 }).catch(() => {});
      [src, srcDir] = [dst, dstDir];
    }

    // Two CPU cores shared with other work make single runs noisy: the range is printed too.
    const range = (v: number[]) => `${Math.round(Math.min(...v))}-${Math.round(Math.max(...v))}`;
    const row = (name: string, r: { total: number[]; downtime: number[] }) => [
      name,
      percentile(r.total, 50),
      range(r.total),
      percentile(r.downtime, 50),
      range(r.downtime),
    ];
    printTable(
      `Live migration of a ${spec.memoryMb} MiB ${arch} guest (TCG, 1 GiB root disk mirrored over NBD, loopback), median of ${RUNS}`,
      ["path", "total ms", "total range", "downtime ms", "downtime range"],
      [row("agent (incoming + outgoing + complete)", agent), row("same QMP sequence by hand", hand)],
    );
  } finally {
    for (const q of clients) await q.close().catch(() => {});
    for (const h of hosts) await h.close().catch(() => {});
    killQemusUnder(base);
    await sleep(300);
    fs.rmSync(base, { recursive: true, force: true });
  }
}
