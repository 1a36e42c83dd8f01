// The one table `npm run bench` ends with (issue 16): every goal, what this run measured, the reference it
// was measured against in the same run, and ✓/✗. Benchmarks call `summarize()`; run.ts prints the table
// and writes bench/RESULTS.md (machine, date, commit, this table, then every detail table printed).
import { printTable } from "./table";

export interface SummaryRow {
  /** what is measured, e.g. "agent PUT → running vs hand-spawned QEMU, x86_64" */
  measure: string;
  /** the goal as a person reads it, e.g. "≤ 1.10×" */
  goal: string;
  /** what this run measured, with its unit, e.g. "1.04× (212 vs 204 ms)" */
  now: string;
  /** the side-by-side reference from the same run, e.g. "hand spawn p50 204 ms"; "-" when none applies */
  reference: string;
  /** goal met; null = not measured in this run (say why in `note`) */
  ok: boolean | null;
  /** why a goal cannot be met on this machine, or why the row was not measured */
  note?: string;
}

const rows: SummaryRow[] = [];

export function summarize(row: SummaryRow): void {
  rows.push(row);
}

export function summaryRows(): readonly SummaryRow[] {
  return rows;
}

const mark = (ok: boolean | null) => (ok === null ? "–" : ok ? "✓" : "✗");

export function summaryTable(): { header: string[]; rows: string[][] } {
  return {
    header: ["measure", "goal", "now", "reference (same run)", "met", "note"],
    rows: rows.map((r) => [r.measure, r.goal, r.now, r.reference, mark(r.ok), r.note ?? ""]),
  };
}

export function printSummary(): void {
  if (rows.length === 0) return;
  const t = summaryTable();
  printTable("Summary: goals (issue 16) against this run", t.header, t.rows);
}
