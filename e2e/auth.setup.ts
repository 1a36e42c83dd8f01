import { test as setup, expect } from "@playwright/test";
import { mkdirSync } from "node:fs";
import { USERS, signIn, storageStateFor } from "./helpers";
import { E2E_AUTH_DIR } from "./paths";

// The admin signs in through the form and creates the operator and viewer through the Users page;
// each role's signed-in state is saved for the other tests.
setup("admin creates an operator and a viewer; each role signs in", async ({ browser }) => {
  mkdirSync(E2E_AUTH_DIR, { recursive: true });
  const adminCtx = await browser.newContext();
  const page = await adminCtx.newPage();
  await signIn(page, USERS.admin.email, USERS.admin.password);
  await page.goto("/users");
  for (const role of ["operator", "viewer"] as const) {
    const form = page.getByRole("form", { name: "Create user" });
    await form.getByLabel("Email").fill(USERS[role].email);
    await form.getByLabel("Name").fill(`E2E ${role}`);
    await form.getByLabel("Role").selectOption(role);
    await form.getByLabel("Initial password").fill(USERS[role].password);
    await form.getByRole("button", { name: "Create user" }).click();
    await expect(page.getByRole("status")).toContainText(`Created ${USERS[role].email}`);
    await expect(page.getByTestId(`user-${USERS[role].email}`)).toBeVisible();
  }
  await adminCtx.storageState({ path: storageStateFor("admin") });
  await adminCtx.close();

  for (const role of ["operator", "viewer"] as const) {
    const ctx = await browser.newContext();
    const p = await ctx.newPage();
    await signIn(p, USERS[role].email, USERS[role].password);
    await expect(p.getByTestId("current-role")).toHaveText(role);
    await ctx.storageState({ path: storageStateFor(role) });
    await ctx.close();
  }
});
