import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
// @ts-expect-error -- a plain .mjs script without type declarations
import { problemsOf, readAdrs, renderIndex } from "./adr-index.mjs";

describe("docs/decisions", () => {
  const adrs = readAdrs();
  it("every ADR has its own number in its title, a Date and a Status", () => {
    expect(adrs.length).toBeGreaterThan(20);
    expect(problemsOf(adrs)).toEqual([]);
  });
  it("the index lists every ADR (regenerate with node scripts/adr-index.mjs)", () => {
    expect(readFileSync(new URL("../docs/decisions/README.md", import.meta.url), "utf8")).toBe(renderIndex(adrs));
  });
  it("the checker catches a wrong number and a missing Date", () => {
    expect(
      problemsOf([{ file: "008-x.md", number: "020", title: "x", date: undefined, status: "accepted" }]),
    ).toHaveLength(2);
  });
});
