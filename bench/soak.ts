// Soak benchmark (issue 15; registered in bench/run.ts as `soak`): the fault rig — the built
// controller as its own process, one real agent per arch (the aarch64 one under qemu-user, its
// guests under TCG), userspace OVS — then N lifecycle operations (create, start, stop, power-off,
// reboot, delete of busybox-demo VMs, 128 MiB, kernel boot, one NIC) through the console API, C at
// a time (bench/soak-driver.ts). After the operations every invariant must hold (settle: no orphan
// QEMU, tap, OVS port, VM dir, IP or allocation); then every VM is deleted and it must hold again
// with nothing left. Prints operations by kind (count, failed, p50/p95/max ms), total time, leaks,
// and the RSS of the controller and of each agent after a warm-up and at the end.
//
//   node --conditions=react-server --import tsx bench/soak.ts [--ops 1000] [--concurrency 20]
//        [--arches x86_64,aarch64] [--warmup 50] [--provider sqlite|postgresql] [--seed 15] [--json FILE]
//   BENCH=soak npm run bench        (BENCH_SOAK_OPS, BENCH_SOAK_CONCURRENCY, BENCH_SOAK_ARCHES)
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { db } from "../lib/server/platform";
import { fleetQemus, missingBuild, startRig, type Rig } from "../lib/server/testing/fault-rig";
import { OP_KINDS, SoakDriver, prepareSoak, type Arch, type OpResult } from "./soak-driver";
import { percentile, printTable } from "./table";

interface SoakArgs {
  ops: number;
  concurrency: number;
  arches: Arch[];
  warmup: number;
  provider: "sqlite" | "postgresql";
  seed: number;
  json: string | null;
}

function parseArgs(argv: string[]): SoakArgs {
  const flag = (name: string, env: string | null, fallback: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 && argv[i + 1] ? argv[i + 1]! : ((env && process.env[env]) ?? fallback);
  };
  const int = (name: string, env: string | null, fallback: number) => {
    const v = Number(flag(name, env, String(fallback)));
    if (!Number.isInteger(v) || v < 0) throw new Error(`--${name} must be a whole number ≥ 0`);
    return v;
  };
  const arches = flag("arches", "BENCH_SOAK_ARCHES", "x86_64,aarch64").split(",");
  if (!arches.every((a): a is Arch => a === "x86_64" || a === "aarch64")) throw new Error("--arches: x86_64,aarch64");
  const provider = flag("provider", null, "sqlite");
  if (provider !== "sqlite" && provider !== "postgresql") throw new Error("--provider: sqlite or postgresql");
  const ops = int("ops", "BENCH_SOAK_OPS", 1000);
  return {
    ops,
    concurrency: Math.max(1, int("concurrency", "BENCH_SOAK_CONCURRENCY", 20)),
    arches,
    warmup: Math.min(ops, int("warmup", null, 50)),
    provider,
    seed: int("seed", null, 15),
    json: argv.includes("--json") ? flag("json", null, "") : null,
  };
}

/** VmRSS of a process in KiB, or null when it is gone. */
function rssKbOf(pid: number | null | undefined): number | null {
  if (!pid) return null;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

function rssSnapshot(rig: Rig): Record<string, number | null> {
  const out: Record<string, number | null> = { controller: rig.controller.rssKb() };
  for (const a of rig.fleet.agents) out[`agent ${a.machineId}${a.emulated ? " (qemu-user)" : ""}`] = rssKbOf(a.pid);
  return out;
}

/** settle() as a list of problems ([] = every invariant holds) instead of a throw. */
async function leaksAfterSettle(rig: Rig): Promise<string[]> {
  try {
    await rig.settle({ timeoutMs: 120_000 });
    return [];
  } catch (e) {
    return (e instanceof Error ? e.message : String(e)).split("\n- ").slice(1);
  }
}

export interface SoakReport {
  args: SoakArgs;
  results: OpResult[];
  opsMs: number;
  totalMs: number;
  leaksWithVms: string[];
  leaksAfterCleanup: string[];
  rssBefore: Record<string, number | null>;
  rssAfter: Record<string, number | null>;
}

function printReport(r: SoakReport): void {
  const counted = r.results.filter((x) => x.phase !== "cleanup");
  const row = (label: string, rs: OpResult[]) => {
    const ms = rs.map((x) => x.ms);
    return [
      label,
      String(rs.length),
      String(rs.filter((x) => !x.ok).length),
      ...(ms.length ? [50, 95, 100].map((p) => Math.round(percentile(ms, p)).toString()) : ["-", "-", "-"]),
    ];
  };
  const rows: (string | number)[][] = [];
  for (const kind of OP_KINDS)
    for (const arch of r.args.arches)
      rows.push(
        row(
          `${kind} ${arch}`,
          counted.filter((x) => x.kind === kind && x.arch === arch),
        ),
      );
  rows.push(row("all operations", counted));
  rows.push(
    row(
      "cleanup delete (not counted)",
      r.results.filter((x) => x.phase === "cleanup"),
    ),
  );
  const { ops, concurrency, arches } = r.args;
  printTable(
    `Soak: ${counted.length} lifecycle operations, ${concurrency} at a time, busybox-demo 128 MiB on ${arches.join(" + ")} (TCG)`,
    ["operation", "count", "failed", "p50 ms", "p95 ms", "max ms"],
    rows,
  );
  const kb = (v: number | null) => (v === null ? "-" : `${(v / 1024).toFixed(1)} MiB`);
  printTable(
    `RSS (VmRSS) after ${r.args.warmup} warm-up operations and at the end (all VMs deleted, settled)`,
    ["process", "before", "after", "difference"],
    Object.keys(r.rssBefore).map((k) => {
      const [b, a] = [r.rssBefore[k] ?? null, r.rssAfter[k] ?? null];
      return [k, kb(b), kb(a), b === null || a === null ? "-" : `${a >= b ? "+" : "-"}${kb(Math.abs(a - b))}`];
    }),
  );
  const mins = (ms: number) => `${(ms / 60_000).toFixed(1)} min`;
  const main = r.results.filter((x) => x.phase === "main").length;
  console.log(
    `operations: ${counted.length}/${ops}; after the warm-up ${main} in ${mins(r.opsMs)} (${((main / r.opsMs) * 60_000).toFixed(0)}/min), ` +
      `whole run with rig start and cleanup ${mins(r.totalMs)}`,
  );
  console.log(
    `leaks with the VMs in place: ${r.leaksWithVms.length}; after deleting them all: ${r.leaksAfterCleanup.length}`,
  );
  for (const p of [...r.leaksWithVms, ...r.leaksAfterCleanup]) console.log(`  leak: ${p}`);
  const errors = new Map<string, number>();
  for (const x of r.results)
    if (x.error) errors.set(x.error.slice(0, 200), (errors.get(x.error.slice(0, 200)) ?? 0) + 1);
  for (const [e, n] of [...errors].slice(0, 20)) console.log(`  failed ×${n}: ${e}`);
}

export async function runSoak(args: SoakArgs): Promise<SoakReport> {
  const t0 = performance.now();
  const fleet = Object.fromEntries(args.arches.map((a) => [a, 1]));
  // Production heartbeat settings (every 5 s, offline after 20 s), not the rig's quick-detection ones:
  // 20 TCG guests on 2 cores slow the aarch64 agent (its Node under qemu-user) enough that a 2 s / 12 s
  // pair flaps the host offline, and a create in flight on an offline host is given up (ADR 040).
  const rig = await startRig({
    provider: args.provider,
    fleet,
    heartbeatMs: 5_000,
    env: { POLYARCH_HEARTBEAT_TIMEOUT_MS: "20000" },
  });
  const onSignal = () => void rig.stop().finally(() => process.exit(130));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    const setup = await prepareSoak(rig, args.arches, args.concurrency);
    let lastLine = performance.now();
    const driver = new SoakDriver(rig, setup, {
      concurrency: args.concurrency,
      arches: args.arches,
      seed: args.seed,
      onOp: (r, done) => {
        if (!r.ok) console.error(`[soak] ${r.kind} ${r.arch} failed: ${r.error}`);
        if (performance.now() - lastLine < 30_000 && done % 100 !== 0) return;
        lastLine = performance.now();
        const failed = driver.results.filter((x) => !x.ok).length;
        console.error(`[soak] ${done} operations, ${failed} failed, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      },
    });
    await driver.run(args.warmup, "warm-up");
    const rssBefore = rssSnapshot(rig);
    const opsStart = performance.now();
    await driver.run(args.ops - args.warmup, "main");
    const opsMs = performance.now() - opsStart;
    const leaksWithVms = await leaksAfterSettle(rig);
    await driver.cleanup();
    const leaksAfterCleanup = await leaksAfterSettle(rig);
    // Nothing may be left at all: no VM row, QEMU or tap of ours.
    const vms = await db().vm.count();
    if (vms) leaksAfterCleanup.push(`${vms} VM rows left after deleting every VM`);
    const qemus = fleetQemus(rig.fleet).length;
    if (qemus) leaksAfterCleanup.push(`${qemus} QEMU processes left after deleting every VM`);
    const rssAfter = rssSnapshot(rig);
    return {
      args,
      results: driver.results,
      opsMs,
      totalMs: performance.now() - t0,
      leaksWithVms,
      leaksAfterCleanup,
      rssBefore,
      rssAfter,
    };
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await rig.stop();
  }
}

export async function benchSoak(argv: string[] = process.argv.slice(2)): Promise<void> {
  const missing = missingBuild();
  if (missing) {
    console.log(`\nsoak benchmark: ${missing}: skipping`);
    return;
  }
  const args = parseArgs(argv);
  const report = await runSoak(args);
  printReport(report);
  if (args.json) fs.writeFileSync(path.resolve(args.json), JSON.stringify(report, null, 2));
  const failed = report.results.filter((x) => !x.ok).length;
  if (failed || report.leaksWithVms.length || report.leaksAfterCleanup.length) process.exitCode = 1;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await benchSoak();
