import { test, expect, request as pwRequest } from "@playwright/test";
import { baseURL } from "../playwright.config";
import { storageStateFor } from "./helpers";

test("a personal API token works as Bearer with the user's role, and stops working when revoked", async ({
  browser,
}) => {
  const ctx = await browser.newContext({ storageState: storageStateFor("viewer") });
  const page = await ctx.newPage();
  await page.goto("/account");
  const form = page.getByRole("form", { name: "Create API token" });
  await form.getByLabel("Name").fill("automation");
  await form.getByRole("button", { name: "Create token" }).click();
  const token = (await page.getByTestId("new-token").textContent())!.trim();
  expect(token).toMatch(/^pa_/);

  const api = await pwRequest.newContext({ baseURL, extraHTTPHeaders: { authorization: `Bearer ${token}` } });
  const list = await api.get("/api/v1/vms?arch=x64&pageSize=3");
  expect(list.status()).toBe(200);
  const body = await list.json();
  expect(body).toHaveProperty("total");
  for (const vm of body.items) expect(vm.arch).toBe("x86_64");
  // Same role as the user: a viewer's token cannot mutate.
  expect(
    (
      await api.post("/api/v1/users", {
        data: { email: "t@e2e.test", name: "T", role: "admin", password: "token-pass-1" },
      })
    ).status(),
  ).toBe(403);

  await page.reload();
  await page
    .getByRole("row", { name: /automation/ })
    .getByRole("button", { name: "Revoke" })
    .click();
  await expect(page.getByRole("row", { name: /automation/ })).toContainText("revoked");
  expect((await api.get("/api/v1/vms")).status()).toBe(401);
  expect(
    (
      await (
        await pwRequest.newContext({ baseURL, extraHTTPHeaders: { authorization: "Bearer pa_forged" } })
      ).get("/api/v1/vms")
    ).status(),
  ).toBe(401);
  await api.dispose();
  await ctx.close();
});

test("the OpenAPI document describes the API from the zod schemas", async ({ request }) => {
  const res = await request.get("/api/v1/openapi.json");
  expect(res.status()).toBe(200);
  const doc = await res.json();
  expect(doc.openapi).toBe("3.1.0");
  for (const p of ["/api/v1/hosts", "/api/v1/images", "/api/v1/vms", "/api/v1/vms/{id}"])
    expect(doc.paths).toHaveProperty(p);
  expect(doc.components.schemas.Vm.properties.arch.enum).toEqual(["x86_64", "aarch64"]);
  expect(doc.paths["/api/v1/vms"].get.parameters.map((p: { name: string }) => p.name)).toEqual(
    expect.arrayContaining(["arch", "status", "q", "page", "pageSize", "sort", "dir"]),
  );
});
