import { test, expect, type Page } from "@playwright/test";
import { storageStateFor, type RoleName } from "./helpers";

const PAGES = ["/", "/hosts", "/images", "/vms", "/account"];

function collectConsoleErrors(page: Page) {
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(e.message));
  return errors;
}

for (const role of ["admin", "operator", "viewer"] as RoleName[]) {
  test.describe(`${role}`, () => {
    test.use({ storageState: storageStateFor(role) });

    test(`sees the pages a ${role} may see, without console errors`, async ({ page }) => {
      const errors = collectConsoleErrors(page);
      for (const path of PAGES) {
        const res = await page.goto(path);
        expect(res?.status(), path).toBe(200);
        await expect(page.locator("h1")).toBeVisible();
      }
      expect(errors).toEqual([]);
      const adminNav = page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Users" });
      if (role === "admin") {
        await expect(adminNav).toBeVisible();
        expect((await page.goto("/users"))?.status()).toBe(200);
        expect((await page.goto("/audit"))?.status()).toBe(200);
        await expect(page.getByRole("heading", { name: "Audit log" })).toBeVisible();
      } else {
        await expect(adminNav).toHaveCount(0);
        // Hidden links are not the protection: the server refuses the pages themselves.
        expect((await page.goto("/users"))?.status()).toBe(403);
        await expect(page.getByRole("heading", { name: "Not allowed" })).toBeVisible();
        expect((await page.goto("/audit"))?.status()).toBe(403);
      }
    });
  });
}

test("a signed-out visitor is sent to the login page and the API answers 401", async ({ page, request }) => {
  await page.goto("/vms?arch=arm64");
  await expect(page).toHaveURL(/\/login\?next=%2Fvms%3Farch%3Darm64/);
  for (const path of ["/api/v1/hosts", "/api/v1/images", "/api/v1/vms", "/api/v1/hosts/x", "/api/v1/users"]) {
    const res = await request.get(path);
    expect(res.status(), path).toBe(401);
    expect((await res.json()).error.code).toBe("unauthenticated");
  }
});

test("wrong credentials get one generic message", async ({ page }) => {
  await page.goto("/login");
  await page.getByLabel("Email").fill("nobody@e2e.test");
  await page.getByLabel("Password").fill("whatever-123");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert").filter({ hasText: /\S/ })).toHaveText("Invalid email or password.");
  await page.getByLabel("Email").fill("admin@e2e.test");
  await page.getByLabel("Password").fill("wrong-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert").filter({ hasText: /\S/ })).toHaveText("Invalid email or password.");
});
