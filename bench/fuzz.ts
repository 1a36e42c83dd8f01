// The long API fuzz (ADR 039): app/api/v1/fuzz.int.test.ts with FUZZ_RUNS cases per route and action
// (default 200) and a new seed each run (printed: FUZZ_SEED=… replays it). Prints routes, cases, failures, time.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { printTable } from "./table";

type Stat = { target: string; cases: number; failures: number; ms: number; statuses: Record<string, number> };

export async function benchFuzz(): Promise<void> {
  const runs = process.env.FUZZ_RUNS ?? "200";
  const seed = process.env.FUZZ_SEED ?? String(Date.now());
  const dir = mkdtempSync(join(tmpdir(), "polyarch-fuzz-bench-"));
  const report = join(dir, "report.json");
  console.log(`fuzz: FUZZ_RUNS=${runs} FUZZ_SEED=${seed}`);
  const t0 = performance.now();
  const run = spawnSync("npx", ["vitest", "run", "app/api/v1/fuzz.int.test.ts"], {
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, FUZZ_RUNS: runs, FUZZ_SEED: seed, FUZZ_REPORT: report },
  });
  const wall = (performance.now() - t0) / 1000;
  const stats = JSON.parse(readFileSync(report, "utf8")) as Stat[];
  rmSync(dir, { recursive: true, force: true });
  const sum = (f: (s: Stat) => number) => stats.reduce((a, s) => a + f(s), 0);
  printTable(
    "API fuzz (every /api/v1 route and server action)",
    ["routes+actions", "cases", "failures", "fuzz s", "wall s", "exit"],
    [
      [
        stats.length,
        sum((s) => s.cases),
        String(sum((s) => s.failures)),
        (sum((s) => s.ms) / 1000).toFixed(1),
        wall.toFixed(1),
        run.status ?? -1,
      ],
    ],
  );
  const failing = stats.filter((s) => s.failures > 0);
  if (failing.length)
    printTable(
      "failing targets",
      ["failing target", "cases", "failures"],
      failing.map((s) => [s.target, s.cases, s.failures]),
    );
}
