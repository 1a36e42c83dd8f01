import { test, expect, request as pwRequest, type Page } from "@playwright/test";
import Database from "better-sqlite3";
import { baseURL } from "../playwright.config";
import { E2E_DB } from "./seed";
import { storageStateFor } from "./helpers";

// Instance types (issue 17, ADR 050): an admin creates an aarch64-only type on the admin page; the VM
// wizard offers it for aarch64 and not for x86_64; the API refuses it for an x86_64 VM with 422 and
// writes no VM. No guest boots here: the images below are catalogue rows only (the wizard needs one
// per arch to reach its size step), and no create in this spec gets as far as placement.

const stamp = Date.now().toString(36);
const TYPE = `e2e.arm-${stamp}`;
const FAMILY = `it-${stamp}`;
const IMAGE = (arch: string) => `it-img-${arch}-${stamp}`;

function withDb<T>(fn: (db: Database.Database) => T): T {
  const db = new Database(E2E_DB, { timeout: 10_000 });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

test.beforeAll(() => {
  const ts = new Date().toISOString().replace("Z", "+00:00");
  withDb((db) => {
    const ins = db.prepare(
      `INSERT INTO "Image" (id, name, family, arch, format, status, visibility, sizeBytes, createdAt, updatedAt) ` +
        `VALUES (?,?,?,?,?,?,?,?,?,?)`,
    );
    for (const arch of ["x86_64", "aarch64"])
      ins.run(IMAGE(arch), IMAGE(arch), FAMILY, arch, "qcow2", "ready", "public", 1 << 20, ts, ts);
  });
});

test.afterAll(async () => {
  const admin = await pwRequest.newContext({ baseURL, storageState: storageStateFor("admin") });
  try {
    const types = (await (await admin.get("/api/v1/instance-types")).json()) as {
      items: { id: string; name: string }[];
    };
    for (const t of types.items.filter((x) => x.name === TYPE)) await admin.delete(`/api/v1/instance-types/${t.id}`);
  } finally {
    await admin.dispose();
  }
  withDb((db) => {
    db.prepare(`DELETE FROM "Vm" WHERE imageId IN (?, ?)`).run(IMAGE("x86_64"), IMAGE("aarch64"));
    db.prepare(`DELETE FROM "Image" WHERE family = ?`).run(FAMILY);
  });
});

/** The wizard up to its size step for `arch`, with this spec's image. */
async function sizeStep(page: Page, arch: "x86_64" | "aarch64") {
  await page.goto("/vms/new");
  await page
    .getByText(arch === "aarch64" ? "aarch64 (ARM64)" : "x86_64", { exact: false })
    .first()
    .click();
  await page.getByRole("button", { name: "Next" }).click();
  await page
    .getByTestId("image-options")
    .locator("label")
    .filter({ hasText: IMAGE(arch) })
    .first()
    .click();
  await page.getByRole("button", { name: "Next" }).click();
  await expect(page.getByRole("radiogroup", { name: "Instance type" })).toBeVisible();
  // The list has loaded when the custom-size choice (admins have vm:customSize) is there.
  await expect(page.getByText("Custom size")).toBeVisible();
}

test("an aarch64-only instance type: created by an admin, offered for aarch64 only, refused for x86_64 (422)", async ({
  browser,
}) => {
  const ctx = await browser.newContext({ storageState: storageStateFor("admin") });
  const admin = await pwRequest.newContext({ baseURL, storageState: storageStateFor("admin") });
  try {
    const page = await ctx.newPage();
    // The admin page, reached from the sidebar.
    await page.goto("/");
    await page.getByRole("link", { name: "Instance types" }).click();
    await expect(page).toHaveURL(/\/instance-types$/);
    const form = page.getByRole("form", { name: "Create instance type" });
    await form.getByLabel("Name").fill(TYPE);
    await form.getByLabel("vCPUs").fill("2");
    await form.getByLabel("Memory (MiB)").fill("512");
    await form.getByLabel("Disk (GiB)").fill("3");
    await form.getByLabel("Architecture").selectOption("aarch64");
    await form.getByLabel(/Description/).fill("e2e: Kunpeng only");
    await form.getByRole("button", { name: "Create instance type" }).click();
    const card = page.getByTestId(`instance-type-${TYPE}`);
    await expect(card).toContainText("aarch64 only");
    await expect(card).toContainText("2 vCPU · 512 MiB · 3 GiB");

    // The API lists it for aarch64, not for x86_64.
    const names = async (arch: string) =>
      (
        (await (await admin.get(`/api/v1/instance-types?arch=${arch}`)).json()) as { items: { name: string }[] }
      ).items.map((t) => t.name);
    expect(await names("aarch64")).toContain(TYPE);
    expect(await names("x86_64")).not.toContain(TYPE);

    // The wizard offers it for aarch64 (and the review names it) …
    await sizeStep(page, "aarch64");
    const option = page.getByTestId(`size-${TYPE}`);
    await expect(option).toContainText("2 vCPU · 512 MiB · 3 GiB");
    await option.getByRole("radio").check();
    await page.getByRole("button", { name: "Next" }).click(); // network
    await page.getByRole("button", { name: "Next" }).click(); // review
    await expect(page.getByTestId("review-instance-type")).toHaveText(TYPE);
    // … and not for x86_64.
    await sizeStep(page, "x86_64");
    await expect(page.getByTestId(`size-${TYPE}`)).toHaveCount(0);

    // POST /api/v1/vms with the type and arch x86_64: 422 in words, and no VM written.
    const vmName = `it-vm-${stamp}`;
    const res = await admin.post("/api/v1/vms", {
      data: { name: vmName, arch: "x86_64", family: FAMILY, instanceType: TYPE },
    });
    expect(res.status(), await res.text()).toBe(422);
    expect((await res.json()).error.message).toBe(
      `Instance type ${TYPE} is for aarch64 only; choose a type for x86_64 or a custom size.`,
    );
    // A type and explicit sizes together: 400 naming both.
    const both = await admin.post("/api/v1/vms", {
      data: { name: vmName, arch: "aarch64", family: FAMILY, instanceType: TYPE, vcpus: 1 },
    });
    expect(both.status()).toBe(400);
    expect((await both.json()).error.message).toContain("not both");
    expect((await (await admin.get(`/api/v1/vms?q=${vmName}`)).json()).total).toBe(0);
  } finally {
    await admin.dispose();
    await ctx.close();
  }
});
