// Prints one closing line for the whole suite: "N passed, N failed, N skipped", preceded by every
// failed test (file, name, the first lines of its error). CI keeps only the tail of a long log, so
// the names of what failed have to be at the end, not only where vitest or Playwright printed them.
// Usage: node scripts/test-summary.mjs [--partial] REPORT.json…
//   --partial: a missing report is not a failure (the suite stopped before that phase ran).
import { existsSync, readFileSync } from "node:fs";
import { isAbsolute, relative } from "node:path";

const args = process.argv.slice(2);
const partial = args.includes("--partial");
const files = args.filter((a) => a !== "--partial");
const ERROR_LINES = 6;

let passed = 0,
  failed = 0,
  skipped = 0;
const failures = [];

// ANSI colour codes make the excerpt unreadable in a plain log.
const plain = (s) => String(s ?? "").replace(/\u001b\[[0-9;]*m/g, "");
const excerpt = (s) =>
  plain(s)
    .split("\n")
    .filter((l) => l.trim() !== "")
    .slice(0, ERROR_LINES)
    .map((l) => `      ${l.slice(0, 300)}`)
    .join("\n");

// Expected/Received diffs of failed assertions, written beside the report by vitest-diffs-reporter.mjs.
function vitestDiffs(file) {
  const path = file.replace(/\.json$/, ".diffs.json");
  if (!existsSync(path)) return new Map();
  const diffs = JSON.parse(readFileSync(path, "utf8"));
  return new Map(diffs.map((d) => [`${d.file}\u0000${d.name}`, d.diff]));
}

const DIFF_LINES = 24;
function diffExcerpt(diff) {
  const lines = plain(diff).split("\n");
  const marked = (l) => /^[-+] /.test(l) || /^[-+]$/.test(l);
  const keep = lines.filter((l, i) => i < 2 || marked(l) || marked(lines[i - 1] ?? "") || marked(lines[i + 1] ?? ""));
  const shown = keep.slice(0, DIFF_LINES).map((l) => `      ${l.slice(0, 300)}`);
  if (keep.length > DIFF_LINES) shown.push(`      … ${keep.length - DIFF_LINES} more diff lines`);
  return shown.join("\n");
}

function readVitest(report, diffs) {
  passed += report.numPassedTests;
  failed += report.numFailedTests;
  skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  for (const file of report.testResults ?? []) {
    const failedTests = (file.assertionResults ?? []).filter((t) => t.status === "failed");
    for (const t of failedTests) {
      const diff = diffs.get(`${file.name}\u0000${t.fullName}`);
      failures.push({ where: file.name, what: t.fullName, error: (t.failureMessages ?? []).join("\n"), diff });
    }
    // A file that failed to load, or failed in a hook, has no failed test of its own.
    if (file.status === "failed" && failedTests.length === 0) {
      failed++;
      failures.push({ where: file.name, what: "(the file itself)", error: file.message });
    }
  }
}

function readPlaywright(report) {
  passed += report.stats.expected;
  failed += report.stats.unexpected;
  skipped += report.stats.skipped;
  const walk = (suite, titles) => {
    for (const spec of suite.specs ?? []) {
      for (const test of spec.tests ?? []) {
        if (test.status !== "unexpected") continue;
        const last = test.results?.at(-1);
        failures.push({
          where: spec.file ?? suite.file,
          what: [...titles, spec.title].filter(Boolean).join(" › "),
          error: last?.error?.message ?? last?.errors?.map((e) => e.message).join("\n"),
        });
      }
    }
    for (const child of suite.suites ?? []) walk(child, [...titles, child.title]);
  };
  for (const suite of report.suites ?? []) walk(suite, []);
  for (const e of report.errors ?? []) failures.push({ where: "playwright", what: "(run error)", error: e.message });
}

for (const file of files) {
  if (!existsSync(file)) {
    if (partial) continue;
    console.error(`missing results: ${file}`);
    failed++;
    continue;
  }
  const report = JSON.parse(readFileSync(file, "utf8"));
  if ("numPassedTests" in report) readVitest(report, vitestDiffs(file));
  else if (report.stats) readPlaywright(report);
}

if (failures.length > 0) {
  console.log(`failed (${failures.length}):`);
  for (const f of failures) {
    const where = f.where && isAbsolute(f.where) ? relative(process.cwd(), f.where) : f.where;
    console.log(`  ✗ ${where}\n    ${f.what}`);
    const e = excerpt(f.error);
    if (e) console.log(e);
    // Only the lines that differ and one line of context around them: the rest is the same on both sides.
    if (f.diff) console.log(diffExcerpt(f.diff));
  }
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 ? 1 : 0);
