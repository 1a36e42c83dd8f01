import { test, expect } from "@playwright/test";
import { realpathSync } from "node:fs";
import { resolve } from "node:path";
import { storageStateFor } from "./helpers";

// The upload form's visibility and project (issue 12, findings 5 and 7; ADR 027): operators choose
// project (the default) or private and are told only admins publish; admins may choose public too.
// The image lands in the chosen project with the chosen visibility.
const FIXTURES = realpathSync(resolve(".cache/fixtures"));

test.describe("operator", () => {
  test.use({ storageState: storageStateFor("operator") });

  test("chooses project or private, never public; the image gets them", async ({ page }) => {
    await page.goto("/images");
    const form = page.getByRole("form", { name: "Upload image" });
    const visibility = form.getByLabel("Visibility");
    await expect(visibility).toHaveValue("project");
    await expect(visibility.locator("option")).toHaveText(["project (its members)", "private (you and admins)"]);
    await expect(form.getByText("Only admins may make an image public.")).toBeVisible();
    const project = form.locator("select[name=projectId]");
    await expect(project.locator("option").first()).toBeAttached();
    const projectId = await project.inputValue();

    await form.getByLabel("Format").selectOption("kernel");
    await form.getByLabel("Name").fill("e2e-private-kernel");
    await visibility.selectOption("private");
    await form.getByLabel("Kernel", { exact: true }).setInputFiles(`${FIXTURES}/x86_64/vmlinuz`);
    await form.getByRole("button", { name: "Upload" }).click();
    await expect(page.getByRole("status").filter({ hasText: "e2e-private-kernel" })).toBeVisible({ timeout: 60_000 });

    const list = await page.request.get("/api/v1/images?q=e2e-private-kernel");
    const { items } = (await list.json()) as { items: { id: string; visibility: string; projectId?: string }[] };
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ visibility: "private" });
    if ("projectId" in items[0]!) expect(items[0]!.projectId).toBe(projectId);
    // Leave the catalogue as it was for the other specs.
    const origin = new URL(page.url()).origin; // a same-origin write, as the console's own
    expect((await page.request.delete(`/api/v1/images/${items[0]!.id}`, { headers: { origin } })).ok()).toBe(true);
  });
});

test.describe("admin", () => {
  test.use({ storageState: storageStateFor("admin") });

  test("may also choose public", async ({ page }) => {
    await page.goto("/images");
    const visibility = page.getByRole("form", { name: "Upload image" }).getByLabel("Visibility");
    await expect(visibility.locator("option")).toHaveText([
      "project (its members)",
      "private (you and admins)",
      "public (everyone)",
    ]);
  });
});
