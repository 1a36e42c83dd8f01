import { expect, type APIRequestContext, type Page } from "@playwright/test";
import { join } from "node:path";
import { E2E_AUTH_DIR } from "./paths";

export const USERS = {
  admin: { email: "admin@e2e.test", password: "admin-password-e2e" },
  operator: { email: "operator@e2e.test", password: "operator-password-1" },
  viewer: { email: "viewer@e2e.test", password: "viewer-password-1" },
} as const;
export type RoleName = keyof typeof USERS;

export const storageStateFor = (role: RoleName) => join(E2E_AUTH_DIR, `${role}.json`);

/** Signs in through the real login form. */
export async function signIn(page: Page, email: string, password: string) {
  await page.goto("/login");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByTestId("current-user")).toBeVisible();
}

/** Signs in over HTTP (no browser): the session cookie lands in the request context. */
export async function apiSignIn(request: APIRequestContext, email: string, password: string) {
  const res = await request.post("/api/auth/sign-in/email", { data: { email, password } });
  expect(res.status(), await res.text()).toBe(200);
}

/** Server-action ids are in the page's JS; a direct POST needs one. Finds it from the form's hidden $ACTION field or Next's action manifest. */
export async function countAuditEvents(request: APIRequestContext, q: string, result?: string) {
  const res = await request.get(
    `/api/v1/audit?q=${encodeURIComponent(q)}${result ? `&status=${result}` : ""}&pageSize=200`,
  );
  expect(res.status()).toBe(200);
  return (await res.json()).total as number;
}
