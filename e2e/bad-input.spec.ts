import { test, expect } from "@playwright/test";
import { storageStateFor } from "./helpers";

test.use({ storageState: storageStateFor("admin") });

test("an unknown arch filter is a 400 that names the accepted values; aliases work", async ({ request, page }) => {
  for (const kind of ["hosts", "images", "vms"]) {
    const res = await request.get(`/api/v1/${kind}?arch=sparc`);
    expect(res.status()).toBe(400);
    const { error } = await res.json();
    expect(error.code).toBe("invalid");
    for (const accepted of ["x86_64", "aarch64", "amd64", "arm64"]) expect(error.message).toContain(accepted);
  }
  expect((await request.get("/api/v1/vms?arch=ARM64")).status()).toBe(200);
  expect((await request.get("/api/v1/vms?arch=amd64")).status()).toBe(200);
  expect((await request.get("/api/v1/vms?pageSize=100000")).status()).toBe(400);
  expect((await request.get("/api/v1/vms?sort=password")).status()).toBe(400);
  // The list page shows the same message instead of breaking.
  await page.goto("/vms?arch=sparc");
  await expect(page.getByRole("alert").filter({ hasText: "Unknown architecture" })).toBeVisible();
});

test("malformed and oversize JSON are client errors, never 500", async ({ request }) => {
  const malformed = await request.post("/api/v1/users", {
    headers: { "content-type": "application/json" },
    data: Buffer.from("{not json"),
  });
  expect(malformed.status()).toBe(400);
  expect((await malformed.json()).error.message).toContain("not valid JSON");
  const wrongShape = await request.post("/api/v1/users", { data: { email: "x" } });
  expect(wrongShape.status()).toBe(400);
  const huge = await request.post("/api/v1/users", {
    headers: { "content-type": "application/json" },
    data: JSON.stringify({ name: "x".repeat(2 * 1024 * 1024) }),
  });
  expect(huge.status()).toBe(413);
  expect((await huge.json()).error.code).toBe("too_large");
  const unknownId = await request.get("/api/v1/vms/does-not-exist");
  expect(unknownId.status()).toBe(404);
});

test("SQL-ish and script strings in names are stored and displayed inertly", async ({ page, request }) => {
  const nasty = [
    `<script>window.__pwned=1</script>`,
    `Robert'); DROP TABLE "user";--`,
    `<img src=x onerror="window.__pwned=2">`,
  ];
  let dialogs = 0;
  page.on("dialog", (d) => {
    dialogs++;
    void d.dismiss();
  });
  for (const [i, name] of nasty.entries()) {
    const res = await request.post("/api/v1/users", {
      data: { email: `nasty${i}-${Date.now()}@e2e.test`, name, role: "viewer", password: "nasty-pass-1" },
    });
    expect(res.status()).toBe(201);
  }
  await page.goto("/users");
  for (const name of nasty) await expect(page.getByText(name, { exact: true })).toBeVisible();
  expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
  expect(dialogs).toBe(0);
  // The table survived the "DROP TABLE".
  expect((await request.get("/api/v1/users")).status()).toBe(200);
  const search = await request.get(`/api/v1/vms?q=${encodeURIComponent(`' OR 1=1 --`)}`);
  expect(search.status()).toBe(200);
  expect((await search.json()).total).toBe(0);
});
