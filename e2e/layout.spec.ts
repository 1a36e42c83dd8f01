// The console's frame (issue 17, "Layout"): the sidebar spans the whole height of a long page, and
// at 390 px the sidebar folds into a menu button and no page scrolls sideways (wide tables scroll
// inside their own box). Data: e2e/a11y-seed.ts (60 VMs make /vms?pageSize=50 several screens long).
import { test, expect, type Page } from "@playwright/test";
import { storageStateFor } from "./helpers";
import { A11Y_VM_PREFIX, CONSOLE_PAGES, removeA11yRecords, seedA11yRecords } from "./a11y-seed";

test.use({ storageState: storageStateFor("admin") });
test.beforeAll(() => seedA11yRecords());
test.afterAll(() => removeA11yRecords());

const LONG_PAGE = `/vms?q=${A11Y_VM_PREFIX}&pageSize=50`;

async function box(page: Page, selector: string) {
  const b = await page.locator(selector).first().boundingBox();
  if (!b) throw new Error(`${selector} is not rendered`);
  return b;
}

test.describe("desktop", () => {
  test.use({ viewport: { width: 1280, height: 720 } });

  test("the sidebar spans the whole height of a long page, at the top and at the bottom", async ({ page }) => {
    await page.goto(LONG_PAGE);
    await expect(page.getByTestId("row")).toHaveCount(50);
    const { scrollHeight, innerHeight } = await page.evaluate(() => ({
      scrollHeight: document.documentElement.scrollHeight,
      innerHeight: window.innerHeight,
    }));
    expect(scrollHeight, "the page must be longer than two screens for this test to mean anything").toBeGreaterThan(
      2 * innerHeight,
    );
    for (const where of ["top", "bottom"] as const) {
      await page.evaluate((w) => window.scrollTo(0, w === "top" ? 0 : document.documentElement.scrollHeight), where);
      await page.waitForFunction(
        (w) =>
          w === "top"
            ? window.scrollY === 0
            : window.scrollY + window.innerHeight >= document.documentElement.scrollHeight - 1,
        where,
      );
      const aside = await box(page, "aside");
      // In viewport coordinates: the sidebar covers the viewport from its top edge to its bottom edge.
      expect(aside.y, `sidebar top at the ${where}`).toBeLessThanOrEqual(0.5);
      expect(aside.y + aside.height, `sidebar bottom at the ${where}`).toBeGreaterThanOrEqual(innerHeight - 0.5);
      const main = await box(page, "main");
      expect(aside.x + aside.width, "the sidebar sits beside the content").toBeLessThanOrEqual(main.x + 0.5);
    }
    // The sidebar's own end (the signed-in user and Sign out) is on screen, not a page-length away.
    await expect(page.getByRole("button", { name: "Sign out" })).toBeInViewport();
  });
});

test.describe("a short window", () => {
  test.use({ viewport: { width: 1280, height: 480 } });

  test("the sidebar's content stays inside its dark box and its last control is reachable", async ({ page }) => {
    await page.goto(LONG_PAGE);
    await expect(page.getByTestId("row")).toHaveCount(50);
    await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
    const signOut = page.getByRole("button", { name: "Sign out" });
    await signOut.scrollIntoViewIfNeeded();
    await expect(signOut).toBeInViewport();
    const aside = await box(page, "aside");
    const button = await signOut.boundingBox();
    expect(aside.y).toBeLessThanOrEqual(0.5);
    expect(aside.y + aside.height).toBeGreaterThanOrEqual(480 - 0.5);
    // Not spilling past the sidebar's background onto the page: the button lies within the aside's box.
    expect(button!.y + button!.height, "Sign out inside the sidebar").toBeLessThanOrEqual(aside.y + aside.height + 0.5);
  });
});

test.describe("390 px wide", () => {
  test.use({ viewport: { width: 390, height: 844 } });

  for (const path of [...CONSOLE_PAGES.map((p) => (p === "/vms" ? LONG_PAGE : p)), "/vms/new"]) {
    test(`${path} does not scroll sideways`, async ({ page }) => {
      await page.goto(path);
      await expect(page.locator("h1").first()).toBeVisible();
      await page.waitForLoadState("networkidle", { timeout: 5_000 }).catch(() => undefined);
      const widths = await page.evaluate(() => ({
        scroll: document.documentElement.scrollWidth,
        body: document.body.scrollWidth,
      }));
      // On failure, name the innermost elements that reach past the viewport (what to fix).
      const culprits =
        widths.scroll > 390
          ? await page.evaluate(() =>
              [...document.querySelectorAll("body *")]
                .filter(
                  (el) =>
                    el.getBoundingClientRect().right > 391 &&
                    ![...el.children].some((c) => c.getBoundingClientRect().right > 391),
                )
                .slice(0, 3)
                .map(
                  (el) =>
                    `<${el.tagName.toLowerCase()} class="${el.className}"> ${(el.textContent ?? "").slice(0, 60)}`,
                ),
            )
          : [];
      expect(widths.scroll, `document width on ${path}; too wide: ${culprits.join(" | ")}`).toBeLessThanOrEqual(390);
      expect(widths.body, `body width on ${path}`).toBeLessThanOrEqual(390);
    });
  }

  test("the sidebar folds into a menu button that opens and closes the navigation", async ({ page }) => {
    await page.goto("/");
    const nav = page.getByRole("navigation", { name: "Main" });
    const menu = page.getByRole("button", { name: "Menu" });
    await expect(menu).toHaveAttribute("aria-expanded", "false");
    await expect(nav.getByRole("link", { name: "Virtual machines" })).toBeHidden();
    await menu.click();
    await expect(menu).toHaveAttribute("aria-expanded", "true");
    await nav.getByRole("link", { name: "Virtual machines" }).click();
    await expect(page).toHaveURL(/\/vms$/);
    await expect(page.getByRole("heading", { level: 1 })).toBeVisible();
    await expect(menu).toHaveAttribute("aria-expanded", "false");
    // A wide table scrolls inside its own box, not the page.
    await page.goto(LONG_PAGE);
    const scroller = page
      .getByTestId("row")
      .first()
      .locator("xpath=ancestor::div[contains(@class,'overflow-x-auto')][1]");
    const { client, scroll } = await scroller.evaluate((el) => ({ client: el.clientWidth, scroll: el.scrollWidth }));
    expect(client).toBeLessThanOrEqual(390);
    expect(scroll, "the VM table is wider than the phone, so its box scrolls").toBeGreaterThan(client);
  });
});
