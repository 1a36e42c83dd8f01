import { test, expect } from "@playwright/test";
import { USERS, signIn, storageStateFor } from "./helpers";

test("an admin creates an operator, the operator signs in, the admin disables them and their session stops working", async ({
  browser,
}) => {
  const email = `ops-${Date.now()}@e2e.test`;
  const password = "operator-pass-2";

  const adminCtx = await browser.newContext({ storageState: storageStateFor("admin") });
  const admin = await adminCtx.newPage();
  await admin.goto("/users");
  const form = admin.getByRole("form", { name: "Create user" });
  await form.getByLabel("Email").fill(email);
  await form.getByLabel("Name").fill("Short-lived operator");
  await form.getByLabel("Role").selectOption("operator");
  await form.getByLabel("Initial password").fill(password);
  await form.getByRole("button", { name: "Create user" }).click();
  await expect(admin.getByTestId(`user-${email}`)).toBeVisible();

  const opCtx = await browser.newContext();
  const op = await opCtx.newPage();
  await signIn(op, email, password);
  await expect(op.getByTestId("current-role")).toHaveText("operator");
  expect((await opCtx.request.get("/api/v1/vms")).status()).toBe(200);

  admin.once("dialog", (d) => d.accept());
  await admin.getByTestId(`user-${email}`).getByRole("button", { name: "Disable" }).click();
  await expect(admin.getByRole("status")).toContainText("disabled");
  await expect(admin.getByTestId(`user-${email}`)).toContainText("disabled");

  // The existing session is gone: the API refuses it and pages send them to the login form.
  expect((await opCtx.request.get("/api/v1/vms")).status()).toBe(401);
  await op.goto("/vms");
  await expect(op).toHaveURL(/\/login/);
  // And they cannot sign in again.
  await op.getByLabel("Email").fill(email);
  await op.getByLabel("Password").fill(password);
  await op.getByRole("button", { name: "Sign in" }).click();
  await expect(op.getByRole("alert").filter({ hasText: /\S/ })).toBeVisible();
  await expect(op).toHaveURL(/\/login/);

  // The audit log shows who did it.
  await admin.goto(`/audit?q=user.disable`);
  await expect(admin.getByTestId("row").first()).toContainText(USERS.admin.email);
  await opCtx.close();
  await adminCtx.close();
});

test("an admin changes a role and resets a password through the API", async ({ request, browser }) => {
  const ctx = await browser.newContext({ storageState: storageStateFor("admin") });
  const email = `role-${Date.now()}@e2e.test`;
  const created = await ctx.request.post("/api/v1/users", {
    data: { email, name: "Role change", role: "viewer", password: "first-pass-1" },
  });
  expect(created.status()).toBe(201);
  const { id } = await created.json();
  const dup = await ctx.request.post("/api/v1/users", {
    data: { email, name: "Again", role: "viewer", password: "first-pass-1" },
  });
  expect(dup.status()).toBe(409);
  expect(
    (
      await ctx.request.patch(`/api/v1/users/${id}`, { data: { role: "operator", password: "second-pass-2" } })
    ).status(),
  ).toBe(200);
  const bad = await ctx.request.patch(`/api/v1/users/${id}`, { data: { role: "root" } });
  expect(bad.status()).toBe(400);
  expect((await bad.json()).error.message).toContain("admin, operator, viewer");
  expect((await request.post("/api/auth/sign-in/email", { data: { email, password: "first-pass-1" } })).status()).toBe(
    401,
  );
  expect((await request.post("/api/auth/sign-in/email", { data: { email, password: "second-pass-2" } })).status()).toBe(
    200,
  );
  await ctx.close();
});
