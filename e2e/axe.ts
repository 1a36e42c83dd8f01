// axe-core checks shared by the specs (issue 17, "Layout"): serious and critical WCAG 2.1 A/AA
// violations on the page as it is, one readable line per node, in the light and the dark scheme.
import AxeBuilder from "@axe-core/playwright";
import { expect, type Page } from "@playwright/test";

export const SCHEMES = ["light", "dark"] as const;

/**
 * The rules whose outcome depends on colours. The colour scheme changes colours only (Tailwind's dark:
 * variants), so after a full run in the light scheme, the dark one re-runs just these: the other rules
 * (names, roles, labels, structure) would see the same DOM and answer the same, at twice the cost.
 */
const COLOUR_RULES = ["color-contrast", "link-in-text-block"];

/** Runs axe on the page as it is now; returns the serious and critical violations, one readable line per node. */
export async function seriousViolations(page: Page, label: string, only?: string[]) {
  const axe = new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]);
  const results = await (only ? axe.withRules(only) : axe).analyze();
  return results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .flatMap((v) =>
      v.nodes.map(
        (n) =>
          `${label}: [${v.impact}] ${v.id} — ${v.help}\n    at ${n.target.join(" ")}\n    ${n.failureSummary?.replace(/\n/g, "\n    ")}`,
      ),
    );
}

/** Waits until the page has its heading and its first data (TanStack Query), so axe sees real content. */
export async function settle(page: Page) {
  await expect(page.locator("h1").first()).toBeVisible();
  await page.waitForLoadState("networkidle", { timeout: 5_000 }).catch(() => undefined);
  await expect(page.getByText(/^Loading/)).toHaveCount(0);
}

export async function expectNoSeriousViolations(page: Page, label: string, only?: string[]) {
  await settle(page);
  const found = await seriousViolations(page, label, only);
  expect(found, `axe found ${found.length} serious/critical violation(s):\n${found.join("\n")}`).toEqual([]);
}

/**
 * axe in the light scheme (every rule), then the dark one (the colour rules) on the page as it is: one
 * load serves both, CSS follows at once.
 */
export async function expectNoSeriousViolationsInBothSchemes(page: Page, label: string) {
  for (const colorScheme of SCHEMES) {
    await page.emulateMedia({ colorScheme });
    await expectNoSeriousViolations(page, `${label} ${colorScheme}`, colorScheme === "dark" ? COLOUR_RULES : undefined);
  }
}
