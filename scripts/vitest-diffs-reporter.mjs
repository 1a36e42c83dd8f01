// Vitest's JSON report keeps a failed assertion's message and stack, not its Expected/Received diff,
// and the message abbreviates both sides ("[ { …(2) }, …(1) ]"): the list at the end of the log then
// says *that* two values differed, not *how*. This reporter writes the diffs of failed tests beside
// the JSON report (<report>.diffs.json) for scripts/test-summary.mjs to print.
import { writeFileSync } from "node:fs";

export default class DiffsReporter {
  onInit(vitest) {
    this.out = vitest.config.outputFile?.json?.replace(/\.json$/, ".diffs.json");
    this.diffs = [];
  }

  onTestCaseResult(testCase) {
    const result = testCase.result();
    if (result.state !== "failed") return;
    for (const error of result.errors ?? []) {
      if (!error.diff) continue;
      // The JSON report names a test by its suites and title joined with spaces.
      const name = testCase.fullName.split(" > ").join(" ");
      this.diffs.push({ file: testCase.module.moduleId, name, diff: error.diff });
    }
  }

  onTestRunEnd() {
    if (this.out) writeFileSync(this.out, JSON.stringify(this.diffs));
  }
}
