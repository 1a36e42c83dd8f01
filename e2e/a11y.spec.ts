// axe-core on every console page (issue 17, "Layout"): as admin, in the light and the dark colour
// scheme, and at 390 px for a few pages, no serious or critical WCAG 2.1 A/AA violation. Data the
// pages show is seeded here (e2e/a11y-seed.ts; networks and projects through the API), so the detail
// pages and the wizard steps render real content. /vms/[id]/console and the serial terminal need a
// running guest behind a real agent: e2e/vnc.spec.ts and e2e/console.spec.ts run the same checks there.
import { test, expect } from "@playwright/test";
import { baseURL } from "../playwright.config";
import { storageStateFor } from "./helpers";
import { A11Y_VM_ID, CONSOLE_PAGES, removeA11yRecords, seedA11yRecords } from "./a11y-seed";
import { expectNoSeriousViolations, expectNoSeriousViolationsInBothSchemes } from "./axe";

const PAGES = [...CONSOLE_PAGES, "/no-such-page"];
const NARROW_PAGES = ["/", "/vms", `/vms/${A11Y_VM_ID}`, "/networks", "/users"];

const created: string[] = []; // API paths of the network and project made here, deleted afterwards

test.beforeAll(async ({ playwright }) => {
  seedA11yRecords();
  const api = await playwright.request.newContext({ baseURL, storageState: storageStateFor("admin") });
  for (const [kind, data] of [
    ["networks", { name: "a11y-lan", vlanId: 3990, cidr: "10.239.99.0/24", gateway: "10.239.99.1" }],
    ["projects", { name: "a11y-project" }],
  ] as const) {
    const res = await api.post(`/api/v1/${kind}`, { data });
    expect(res.status(), await res.text()).toBe(201);
    created.push(`/api/v1/${kind}/${(await res.json()).id}`);
  }
  await api.dispose();
});

test.afterAll(async ({ playwright }) => {
  removeA11yRecords();
  const api = await playwright.request.newContext({ baseURL, storageState: storageStateFor("admin") });
  for (const path of created) {
    const res = await api.delete(path);
    expect(res.ok(), `${path}: ${res.status()} ${await res.text()}`).toBe(true);
  }
  await api.dispose();
});

test.describe("signed out", () => {
  test.use({ storageState: { cookies: [], origins: [] } });
  test("the login page has no serious axe violations (light and dark)", async ({ page }) => {
    await page.goto("/login");
    await expectNoSeriousViolationsInBothSchemes(page, "/login");
  });
});

test.describe("admin", () => {
  test.use({ storageState: storageStateFor("admin") });

  for (const path of PAGES) {
    test(`${path} has no serious axe violations (light and dark)`, async ({ page }) => {
      await page.goto(path);
      await expectNoSeriousViolationsInBothSchemes(page, path);
    });
  }

  test("every step of the VM wizard has no serious axe violations (light and dark)", async ({ page }) => {
    await page.goto("/vms/new");
    const next = page.getByRole("button", { name: "Next" });
    await expectNoSeriousViolationsInBothSchemes(page, "wizard step 1");
    await page.getByText("x86_64", { exact: false }).first().click();
    await next.click();
    await page.getByTestId("image-options").locator("label").filter({ hasText: "a11y-debian-12-x86_64" }).click();
    await expectNoSeriousViolationsInBothSchemes(page, "wizard step 2");
    for (const step of [3, 4, 5]) {
      await next.click();
      await expect(page.locator('[aria-current="step"]')).toHaveText(new RegExp(`^${step}\\.`));
      await expectNoSeriousViolationsInBothSchemes(page, `wizard step ${step}`);
    }
  });
});

test.describe("390 px wide", () => {
  test.use({ storageState: storageStateFor("admin"), viewport: { width: 390, height: 844 } });

  for (const path of NARROW_PAGES) {
    test(`${path} has no serious axe violations at 390 px, menu closed and open`, async ({ page }) => {
      await page.goto(path);
      await expectNoSeriousViolations(page, `${path} 390px`);
      await page.getByRole("button", { name: "Menu" }).click();
      await expect(page.getByRole("navigation", { name: "Main" })).toBeVisible();
      await expectNoSeriousViolations(page, `${path} 390px menu open`);
    });
  }

  test("the login page has no serious axe violations at 390 px (dark)", async ({ browser }) => {
    const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme: "dark" });
    const page = await ctx.newPage();
    await page.goto("/login");
    await expectNoSeriousViolations(page, "/login 390px dark");
    await ctx.close();
  });
});
