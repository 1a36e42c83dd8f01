import { test, expect } from "@playwright/test";
import { seedFleet, setVmStatus, type SeedResult } from "./seed";
import { storageStateFor } from "./helpers";

test.use({ storageState: storageStateFor("viewer") });
let seeded: SeedResult;

test.beforeAll(() => {
  seeded = seedFleet(10_000);
});

test("the VM list pages, sorts, filters and searches 10,000 rows on the server", async ({ page, request }) => {
  await page.goto("/vms");
  await expect(page.getByTestId("range")).toHaveText(`Showing 1–25 of ${seeded.vms}`);
  await expect(page.getByTestId("row")).toHaveCount(25);
  // Every row shows its architecture with the same badge.
  const badges = page.getByTestId("row").getByTestId("arch-badge");
  await expect(badges).toHaveCount(25);
  for (const text of await badges.allTextContents()) expect(["x86_64", "aarch64"]).toContain(text);

  await page.getByRole("button", { name: "Next" }).click();
  await expect(page.getByTestId("range")).toHaveText(`Showing 26–50 of ${seeded.vms}`);

  await page.getByLabel("Architecture").selectOption("aarch64");
  await expect(page.getByTestId("range")).toHaveText(`Showing 1–25 of ${seeded.vmsByArch.aarch64}`);
  for (const text of await page.getByTestId("row").getByTestId("arch-badge").allTextContents())
    expect(text).toBe("aarch64");
  await expect(page).toHaveURL(/arch=aarch64/);

  await page.getByLabel("Status").selectOption("error");
  const apiCount = (await (await request.get("/api/v1/vms?arch=arm64&status=error")).json()).total;
  await expect(page.getByTestId("range")).toHaveText(`Showing 1–${Math.min(25, apiCount)} of ${apiCount}`);

  await page.getByLabel("Status").selectOption("");
  await page.getByLabel("Architecture").selectOption("");
  await page.getByRole("button", { name: "Name" }).click(); // name is the default sort: toggles to desc
  await expect(page.getByTestId("row").first()).toContainText("vm-10000");

  await page.getByLabel("Search by name").fill("vm-0004");
  await expect(page.getByTestId("range")).toHaveText("Showing 1–10 of 10");
  await page.getByLabel("Search by name").fill("no-such-vm");
  await expect(page.getByTestId("empty-state")).toContainText("Nothing matches these filters");
});

test("lists refresh by themselves when a status changes", async ({ page }) => {
  setVmStatus("seed-vm-1", "running");
  await page.goto("/vms?q=vm-00001&pageSize=5");
  const row = page.getByTestId("row").filter({ hasText: "vm-00001" }).first();
  await expect(row.getByTestId("status-badge")).toHaveText("running");
  setVmStatus("seed-vm-1", "error");
  // No reload: TanStack Query polls the API.
  await expect(row.getByTestId("status-badge")).toHaveText("error", { timeout: 15_000 });
});

test("hosts and the dashboard show architecture and status per host", async ({ page }) => {
  await page.goto("/hosts?q=seed-");
  await expect(page.getByTestId("row")).toHaveCount(4);
  await expect(page.getByTestId("row").filter({ hasText: "seed-arm-b" })).toContainText("maintenance");
  await expect(page.getByTestId("row").filter({ hasText: "seed-arm-a" })).toContainText("Kunpeng 920");
  await page.getByLabel("Architecture").selectOption("aarch64");
  await expect(page.getByTestId("row")).toHaveCount(2);

  await page.goto("/");
  await expect(page.getByTestId("card-vms-aarch64").getByTestId("count")).toHaveText(String(seeded.vmsByArch.aarch64));
  await expect(page.getByTestId("card-vms-x86_64").getByTestId("count")).toHaveText(String(seeded.vmsByArch.x86_64));
});
