#!/usr/bin/env node
// Lint step for what ESLint and Prettier do not cover: no source file over 600 lines unless its
// first lines say why ("Over 600 lines: …"), and no line over 160 characters (Prettier wraps code
// at 120 but leaves long strings and comments alone). Generated code is exempt.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

const MAX_LINES = 600;
const MAX_WIDTH = 160;
const files = execFileSync("git", ["ls-files", "-co", "--exclude-standard", "*.ts", "*.tsx", "*.mjs", "*.js"], {
  encoding: "utf8",
})
  .split("\n")
  .filter((f) => f && !f.startsWith("lib/generated/") && !f.startsWith("tools/") && !f.startsWith("public/"));

const problems = [];
for (const file of files) {
  let text;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    continue; // deleted in the work tree
  }
  const lines = text.split("\n");
  if (lines.length > MAX_LINES && !lines.slice(0, 5).some((l) => /Over 600 lines: \S/.test(l))) {
    problems.push(
      `${file}: ${lines.length} lines (max ${MAX_LINES}); split it, or say why at its top ("// Over 600 lines: <reason>")`,
    );
  }
  lines.forEach((line, i) => {
    if (line.length > MAX_WIDTH) problems.push(`${file}:${i + 1}: ${line.length} characters (max ${MAX_WIDTH})`);
  });
}
if (problems.length) {
  console.error(problems.join("\n"));
  console.error(`\n${problems.length} problem(s) in ${files.length} source files`);
  process.exit(1);
}
console.log(`source shape: ${files.length} files, none over ${MAX_LINES} lines or ${MAX_WIDTH} characters a line`);
