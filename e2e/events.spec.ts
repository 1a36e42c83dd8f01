import { test, expect, type APIRequestContext } from "@playwright/test";
import Database from "better-sqlite3";
import { randomUUID } from "node:crypto";
import { E2E_DB } from "./seed";
import { signIn, storageStateFor } from "./helpers";

// A failed task made through the real path: an operator starts a VM whose host has no reachable
// agent. It must show on "Tasks & events" under the "failed" filter and as an unread notification
// of that user (not of someone who already read theirs), and "Mark all read" must clear it.
const suffix = randomUUID().slice(0, 8);
const VM_NAME = `evt-vm-${suffix}`;
const HOST_NAME = `evt-host-${suffix}`;
const USER = { email: `events-op-${suffix}@e2e.test`, password: "events-password-1" };
let vmId = "";
let hostId = "";

test.beforeAll(() => {
  // Bulk test data only (the pattern of e2e/seed.ts): a host that joined once and never reported an
  // agent address, and a VM on it whose state is unknown. The failing action itself goes through the console.
  const db = new Database(E2E_DB, { timeout: 10_000 });
  try {
    const ts = new Date().toISOString().replace("Z", "+00:00");
    hostId = `evt-host-${randomUUID()}`;
    vmId = `evt-vm-${randomUUID()}`;
    db.prepare(
      `INSERT INTO "Host" (id, name, arch, status, adminState, cpuCount, memoryMb, diskGb, nativeArches, emulatedArches, createdAt, updatedAt) ` +
        `VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`,
    ).run(hostId, HOST_NAME, "x86_64", "offline", "enabled", 4, 8192, 100, JSON.stringify(["x86_64"]), "[]", ts, ts);
    db.prepare(
      `INSERT INTO "Vm" (id, name, arch, vcpus, memoryMb, diskGb, hostId, status, powerState, createdAt, updatedAt) VALUES (?,?,?,?,?,?,?,?,?,?,?)`,
    ).run(vmId, VM_NAME, "x86_64", 1, 256, 1, hostId, "unknown", "unknown", ts, ts);
  } finally {
    db.close();
  }
});

// Other specs count every VM and host (e2e/lists.spec.ts): leave none behind. The task stays, its VM
// link set to null by the foreign key, as after a real delete.
test.afterAll(() => {
  const db = new Database(E2E_DB, { timeout: 10_000 });
  try {
    db.pragma("foreign_keys = ON");
    db.prepare(`DELETE FROM "Vm" WHERE id = ?`).run(vmId);
    db.prepare(`DELETE FROM "Host" WHERE id = ?`).run(hostId);
  } finally {
    db.close();
  }
});

async function unread(request: APIRequestContext) {
  const res = await request.get("/api/v1/notifications");
  expect(res.status()).toBe(200);
  return (await res.json()) as { unread: number; items: { id: string; vm: { id: string } | null }[] };
}

test.describe("failed tasks", () => {
  test.use({ storageState: storageStateFor("admin") });

  test("appear under the failed filter and as a notification; mark all read clears it", async ({
    page,
    request,
    browser,
  }) => {
    // A fresh operator: notifications start at account creation, so the count is exactly ours.
    const created = await request.post("/api/v1/users", {
      data: { email: USER.email, name: "Events operator", role: "operator", password: USER.password },
    });
    expect(created.status(), await created.text()).toBe(201);
    // The admin has read everything so far (other specs may have failed tasks of their own).
    expect((await request.post("/api/v1/notifications/read", { data: {} })).status()).toBe(200);
    expect((await unread(request)).unread).toBe(0);

    const ctx = await browser.newContext({ storageState: { cookies: [], origins: [] } });
    try {
      const op = await ctx.newPage();
      await signIn(op, USER.email, USER.password);
      await expect(op.getByTestId("notifications-bell")).toHaveAccessibleName("Notifications: no unread failed tasks");

      // The real failing path: Start on a VM whose host has no agent.
      await op.goto(`/vms/${vmId}`);
      await op.getByRole("group", { name: "VM actions" }).getByRole("button", { name: "Start" }).click();
      await expect(op.getByRole("alert").filter({ hasText: HOST_NAME })).toContainText("has no agent address");

      // The bell counts it without a reload (polling) and lists it with a link to the VM.
      await expect(op.getByTestId("notifications-count")).toHaveText("1", { timeout: 20_000 });
      await op.getByTestId("notifications-bell").click();
      const panel = op.getByRole("region", { name: "Failed task notifications" });
      const item = panel.getByTestId("notification");
      await expect(item).toHaveCount(1);
      await expect(item).toContainText("vm.start");
      await expect(item.getByRole("link", { name: VM_NAME })).toHaveAttribute("href", `/vms/${vmId}`);
      await expect(item).toContainText(HOST_NAME);

      // Tasks & events: the failed filter shows it; the succeeded filter does not.
      await op.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Tasks & events" }).click();
      await expect(op.getByRole("heading", { name: "Tasks & events" })).toBeVisible();
      await op.getByLabel("VM", { exact: true }).fill(VM_NAME);
      await expect(op).toHaveURL(new RegExp(`vm=${VM_NAME}`));
      await op.getByLabel("Result").selectOption("failed");
      await expect(op).toHaveURL(/status=failed/);
      const row = op.getByTestId("event-row");
      await expect(row).toHaveCount(1);
      await expect(row).toHaveAttribute("data-status", "failed");
      await expect(row).toContainText("vm.start");
      await expect(row).toContainText(HOST_NAME);
      await expect(row).toContainText(USER.email);
      await op.getByLabel("Result").selectOption("succeeded");
      await expect(op.getByTestId("empty-state")).toContainText("No tasks match these filters");
      await op.getByLabel("Result").selectOption("failed");
      await expect(row).toHaveCount(1);
      // The same through the JSON API, with the user filter.
      const api = await op.request.get(`/api/v1/events?status=failed&user=${encodeURIComponent(USER.email)}`);
      expect(api.status()).toBe(200);
      expect((await api.json()).items.map((e: { vm: { id: string } | null }) => e.vm?.id)).toEqual([vmId]);

      // Mark all read clears the count, and it stays cleared after a reload.
      await op.getByTestId("notifications-bell").click();
      await panel.getByRole("button", { name: "Mark all read" }).click();
      await expect(op.getByTestId("notifications-count")).toHaveCount(0);
      await expect(panel.getByText("No unread failures.")).toBeVisible();
      await op.reload();
      await expect(op.getByTestId("notifications-bell")).toHaveAccessibleName("Notifications: no unread failed tasks");
      expect((await unread(op.request)).unread).toBe(0);
    } finally {
      await ctx.close();
    }

    // Per user: the admin had read everything before, so the operator's failure is new to them.
    const admin = await unread(request);
    expect(admin.items.map((i) => i.vm?.id)).toContain(vmId);
    await page.goto("/");
    await expect(page.getByTestId("failed-tasks").getByRole("link", { name: VM_NAME })).toBeVisible();
  });
});

test.describe("viewer", () => {
  test.use({ storageState: storageStateFor("viewer") });

  test("may read the events page and its API, not the audit log", async ({ page, request }) => {
    expect((await page.goto("/events"))?.status()).toBe(200);
    await expect(page.getByRole("heading", { name: "Tasks & events" })).toBeVisible();
    expect((await request.get("/api/v1/events?status=failed")).status()).toBe(200);
    expect((await request.get("/api/v1/audit")).status()).toBe(403);
    expect((await request.get("/api/v1/events?status=exploded")).status()).toBe(400);
  });
});
