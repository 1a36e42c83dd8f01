// `npm run bench`: runs every benchmark (each prints its own tables), then one summary table of the
// goals against this run. BENCH=lists,agent,... selects some. A full run (or BENCH_RESULTS=1) also
// writes bench/RESULTS.md. A benchmark that throws is reported in the summary and the rest still run.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { benchLists } from "./lists";
import { benchPlacement } from "./placement";
import { benchAgent } from "./agent";
import { benchImageUpload } from "./image-upload";
import { benchConsole } from "./console";
import { benchSnapshots } from "./snapshots";
import { benchMigration } from "./migration";
import { benchFuzz } from "./fuzz";
import { benchHeartbeatScale } from "./heartbeat-scale";
import { benchSoak } from "./soak";
import { benchFirstLoadJs } from "./first-load-js";
import { benchCreates } from "./creates";
import { printSummary, summarize } from "./summary";
import { writeResults } from "./results";

const all: Record<string, () => Promise<void>> = {
  lists: benchLists,
  placement: benchPlacement,
  agent: benchAgent,
  imageUpload: benchImageUpload,
  console: benchConsole,
  snapshots: benchSnapshots,
  migration: benchMigration,
  fuzz: benchFuzz,
  heartbeatScale: benchHeartbeatScale,
  creates: benchCreates,
  soak: () => benchSoak(),
  firstLoadJs: benchFirstLoadJs,
};
const selected = (process.env.BENCH ?? Object.keys(all).join(",")).split(",");
for (const name of selected) {
  if (!all[name]) throw new Error(`unknown benchmark ${name}; have: ${Object.keys(all).join(", ")}`);
}

// The in-process benchmarks point the data layer at their own databases; the rest of what env()
// resolves (the auth secret, the cluster CA) lands in the data dir, which would otherwise be ./data.
const ownDataDir = process.env.POLYARCH_DATA_DIR ? null : mkdtempSync(path.join(os.tmpdir(), "polyarch-bench-data-"));
if (ownDataDir) process.env.POLYARCH_DATA_DIR = ownDataDir;
process.on("exit", () => ownDataDir && rmSync(ownDataDir, { recursive: true, force: true }));

const t0 = performance.now();
let failed = 0;
for (const name of selected) {
  try {
    await all[name]!();
  } catch (e) {
    failed++;
    console.error(`\nbenchmark ${name} failed:`, e);
    summarize({
      measure: `benchmark "${name}"`,
      goal: "runs",
      now: "failed",
      reference: "-",
      ok: false,
      note: String((e as Error).message ?? e)
        .split("\n")[0]!
        .slice(0, 160),
    });
  }
}
printSummary();
if (!process.env.BENCH || process.env.BENCH_RESULTS === "1") {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
  writeResults(path.join(root, "bench", "RESULTS.md"), selected, performance.now() - t0);
}
if (failed) process.exitCode = 1;
