import { test, expect, type Page } from "@playwright/test";
import { existsSync, mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { storageStateFor } from "./helpers";
import { E2E_DATA_DIR } from "./paths";

// Image service through the browser: operators upload kernel-boot images with a visible progress
// bar (uploads throttled through Chromium's DevTools protocol so progress is observable), the
// controller detects each arch; cancelled uploads leave nothing; viewers get no panel and a 403.
const FIXTURES = realpathSync(resolve(".cache/fixtures"));
const STORE = resolve(E2E_DATA_DIR, "images");
const CMDLINE = { aarch64: "console=ttyAMA0 panic=-1", x86_64: "console=ttyS0 panic=-1" } as const;

async function throttleUploads(page: Page, bytesPerSecond: number) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.emulateNetworkConditions", {
    offline: false,
    latency: 0,
    downloadThroughput: -1,
    uploadThroughput: bytesPerSecond,
  });
  return cdp;
}

/** The upload panel's inline error (Next's route announcer is another role=alert on every page). */
const uploadAlert = (page: Page) => page.getByRole("region", { name: "Upload image" }).getByRole("alert");

async function fillKernelUpload(page: Page, arch: "aarch64" | "x86_64", name: string, family?: string) {
  const form = page.getByRole("form", { name: "Upload image" });
  await form.getByLabel("Format").selectOption("kernel");
  await form.getByLabel("Name").fill(name);
  if (family) await form.getByLabel("Family (optional)").fill(family);
  await expect(form.getByLabel("Architecture")).toHaveValue(""); // "Detect automatically"
  await form.getByLabel("Kernel", { exact: true }).setInputFiles(`${FIXTURES}/${arch}/vmlinuz`);
  await form.getByLabel("Initrd (optional)").setInputFiles(`${FIXTURES}/${arch}/initrd.img`);
  await form.getByLabel("Kernel command line").fill(CMDLINE[arch]);
  return form;
}

test.describe("operator", () => {
  test.use({ storageState: storageStateFor("operator") });

  for (const arch of ["aarch64", "x86_64"] as const) {
    test(`uploads an ${arch} kernel-boot image with visible progress; it is detected as ${arch}`, async ({ page }) => {
      const name = `e2e-busybox-${arch}`;
      await page.goto("/images?q=e2e-busybox");
      const cdp = await throttleUploads(page, 4 * 1024 * 1024);
      const form = await fillKernelUpload(page, arch, name, "e2e-busybox");
      await form.getByRole("button", { name: "Upload" }).click();

      const bar = page.getByRole("progressbar", { name: "Upload progress" });
      await expect(bar).toBeVisible();
      // A real progress bar: seen part-way, then at 100%.
      await expect
        .poll(async () => Number(await bar.getAttribute("aria-valuenow")), { timeout: 30_000, intervals: [100] })
        .toBeGreaterThan(0);
      await expect(page.getByTestId("upload-progress")).toContainText(/\d+% · .* of /);
      await expect(bar).toHaveAttribute("aria-valuenow", "100", { timeout: 60_000 });
      await expect(page.getByRole("status").filter({ hasText: name })).toContainText(
        `${name} is ready: ${arch} (detected from the image)`,
        { timeout: 60_000 },
      );
      await cdp.detach();

      const row = page
        .getByTestId("row")
        .filter({ has: page.getByTestId("image-name").getByText(name, { exact: true }) });
      await expect(row.getByTestId("status-badge")).toHaveText("ready");
      await expect(row.locator("td").nth(2)).toHaveText(arch);
      await expect(row.getByTestId("family-builds")).toContainText("e2e-busybox");

      const res = await page.request.get(`/api/v1/images?q=${name}`);
      const [image] = (await res.json()).items;
      expect(image).toMatchObject({
        name,
        arch,
        status: "ready",
        format: "kernel",
        family: "e2e-busybox",
        cmdline: CMDLINE[arch],
      });
    });
  }

  test("the family lists both arch builds", async ({ page }) => {
    const res = await page.request.get("/api/v1/image-families/e2e-busybox");
    expect(res.status()).toBe(200);
    const family = await res.json();
    expect(family.builds.map((b: { arch: string; status: string }) => [b.arch, b.status])).toEqual([
      ["x86_64", "ready"],
      ["aarch64", "ready"],
    ]);
    await page.goto("/images?q=e2e-busybox");
    await expect(page.getByTestId("family-builds").first().getByTestId("arch-badge")).toHaveText(["x86_64", "aarch64"]);
  });

  test("a second build for a taken family slot is refused inline with 409's message", async ({ page }) => {
    await page.goto("/images?q=e2e-busybox");
    const form = await fillKernelUpload(page, "x86_64", "e2e-dup", "e2e-busybox");
    await form.getByLabel("Architecture").selectOption("x86_64");
    await form.getByRole("button", { name: "Upload" }).click();
    await expect(uploadAlert(page)).toContainText(
      'Family "e2e-busybox" already has an x86_64 build ("e2e-busybox-x86_64")',
    );
    // Undeclared arch: both slots of the family are taken, said before any byte is stored.
    await form.getByLabel("Architecture").selectOption("");
    await form.getByRole("button", { name: "Upload" }).click();
    await expect(uploadAlert(page)).toContainText('Family "e2e-busybox" already has a build for every architecture');
    expect((await (await page.request.get("/api/v1/images?q=e2e-dup")).json()).total).toBe(0);
  });

  test("Cancel aborts the upload and the controller keeps nothing of it", async ({ page, browser }) => {
    await page.goto("/images?q=e2e-cancel");
    await throttleUploads(page, 1024 * 1024);
    const form = await fillKernelUpload(page, "aarch64", "e2e-cancel");
    await form.getByRole("button", { name: "Upload" }).click();
    const bar = page.getByRole("progressbar", { name: "Upload progress" });
    await expect
      .poll(async () => Number(await bar.getAttribute("aria-valuenow")), { intervals: [100] })
      .toBeGreaterThan(2);
    // The server already holds the row (status uploading) while bytes flow.
    await expect
      .poll(async () => (await (await page.request.get("/api/v1/images?q=e2e-cancel")).json()).items[0]?.status, {
        intervals: [200],
      })
      .toBe("uploading");
    await page.getByRole("button", { name: "Cancel" }).click();
    await expect(uploadAlert(page)).toContainText("Upload cancelled");
    await expect
      .poll(async () => (await (await page.request.get("/api/v1/images?q=e2e-cancel")).json()).total, {
        timeout: 15_000,
      })
      .toBe(0);
    // No orphaned directory in the image store: every entry belongs to an image row (the admin's
    // list: an operator sees only the images visible to them).
    const adminCtx = await browser.newContext({ storageState: storageStateFor("admin") });
    try {
      const all = (await (await adminCtx.request.get("/api/v1/images?pageSize=200")).json()).items.map(
        (i: { id: string }) => i.id,
      );
      if (existsSync(STORE)) for (const entry of readdirSync(STORE)) expect(all).toContain(entry);
    } finally {
      await adminCtx.close();
    }
  });

  test("renames and deletes an image from its row", async ({ page }) => {
    await page.goto("/images?q=e2e-temp");
    const form = await fillKernelUpload(page, "x86_64", "e2e-temp");
    await form.getByRole("button", { name: "Upload" }).click();
    await expect(page.getByRole("status").filter({ hasText: "e2e-temp" })).toContainText("is ready");
    const row = page.getByTestId("row").filter({ hasText: "e2e-temp" });
    await row.getByRole("button", { name: "Rename" }).click();
    await row.getByLabel("New name").fill("e2e-temp-renamed");
    await row.getByRole("button", { name: "Save" }).click();
    await expect(row.getByTestId("image-name")).toHaveText("e2e-temp-renamed");
    page.once("dialog", (d) => void d.accept());
    await row.getByRole("button", { name: "Delete" }).click();
    await expect(page.getByTestId("row").filter({ hasText: "e2e-temp" })).toHaveCount(0);
    expect((await (await page.request.get("/api/v1/images?q=e2e-temp")).json()).total).toBe(0);
  });

  test("operators may not import from a controller path (admin only)", async ({ page }) => {
    const res = await page.request.post("/api/v1/images/import", {
      data: { path: `${FIXTURES}/x86_64/vmlinuz`, name: "e2e-import", format: "kernel" },
    });
    expect(res.status()).toBe(403);
  });
});

test.describe("admin", () => {
  test.use({ storageState: storageStateFor("admin") });
  test("imports a kernel image from a path on the controller; a symlink or relative path is refused", async ({
    page,
  }) => {
    expect(
      (
        await page.request.post("/api/v1/images/import", {
          data: { path: "fixtures/vmlinuz", name: "rel", format: "kernel" },
        })
      ).status(),
    ).toBe(400);
    // The controller runs on this machine: a symlink made here is one it would follow.
    const dir = mkdtempSync(join(tmpdir(), "polyarch-e2e-import-"));
    try {
      symlinkSync(`${FIXTURES}/aarch64/vmlinuz`, join(dir, "vmlinuz"));
      const viaLink = await page.request.post("/api/v1/images/import", {
        data: { path: join(dir, "vmlinuz"), name: "link", format: "kernel" },
      });
      expect(viaLink.status()).toBe(400);
      expect((await viaLink.json()).error.message).toMatch(/symbolic link/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const res = await page.request.post("/api/v1/images/import", {
      data: {
        path: `${FIXTURES}/aarch64/vmlinuz`,
        initrdPath: `${FIXTURES}/aarch64/initrd.img`,
        name: "e2e-imported-arm",
        format: "kernel",
        arch: "arm64",
      },
    });
    expect(res.status(), await res.text()).toBe(201);
    expect(await res.json()).toMatchObject({
      name: "e2e-imported-arm",
      arch: "aarch64",
      status: "ready",
      detectedArch: "aarch64",
    });
  });
});

test.describe("viewer", () => {
  test.use({ storageState: storageStateFor("viewer") });
  test("sees images but no upload panel or row actions; the API refuses a viewer's upload, rename and delete with 403", async ({
    page,
  }) => {
    await page.goto("/images");
    await expect(page.getByRole("heading", { name: "Images" })).toBeVisible();
    await expect(page.getByTestId("row").first()).toBeVisible();
    await expect(page.getByRole("form", { name: "Upload image" })).toHaveCount(0);
    await expect(page.getByRole("button", { name: "Delete" })).toHaveCount(0);

    const upload = await page.request.post("/api/v1/images", {
      multipart: {
        name: "viewer-upload",
        format: "raw",
        file: { name: "x.img", mimeType: "application/octet-stream", buffer: Buffer.alloc(4096) },
      },
    });
    expect(upload.status()).toBe(403);
    expect((await upload.json()).error.code).toBe("forbidden");
    const any = (await (await page.request.get("/api/v1/images?pageSize=1")).json()).items[0];
    expect((await page.request.patch(`/api/v1/images/${any.id}`, { data: { name: "hijacked" } })).status()).toBe(403);
    expect((await page.request.delete(`/api/v1/images/${any.id}`)).status()).toBe(403);
    expect((await (await page.request.get("/api/v1/images?q=viewer-upload")).json()).total).toBe(0);
  });
});
