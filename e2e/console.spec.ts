import { test, expect, request as pwRequest, type APIRequestContext } from "@playwright/test";
import { baseURL } from "../playwright.config";
import { adminApi, startMixedFleet, upgradeStatus, waitForFleetOnline, type Fleet } from "./console-helpers";
import { storageStateFor } from "./helpers";

// Serial console in the browser on the real mixed fleet (needs scripts/e2e-server.mjs to start
// the custom server (server/), which serves the console WebSocket). Same fleet data dir as fleet.spec.ts,
// so both files register the same two hosts.
let fleet: Fleet;
let admin: APIRequestContext;
const vms: Record<string, string> = {};

test.describe.configure({ mode: "serial" });
test.setTimeout(300_000);

test.beforeAll(async () => {
  fleet = await startMixedFleet();
  admin = await adminApi();
  await waitForFleetOnline(admin);
  for (const arch of ["x86_64", "aarch64"] as const) {
    const image = (await (await admin.get(`/api/v1/images?arch=${arch}&q=busybox-demo`)).json()).items[0];
    const res = await admin.post("/api/v1/vms", {
      data: { name: `console-${arch.replace("_", "")}`, arch, imageId: image.id, vcpus: 1, memoryMb: 256, diskGb: 1 },
    });
    expect(res.status(), await res.text()).toBe(202);
    vms[arch] = (await res.json()).vm.id;
  }
  for (const id of Object.values(vms)) {
    await expect
      .poll(async () => (await (await admin.get(`/api/v1/vms/${id}`)).json()).status, { timeout: 180_000 })
      .toBe("running");
  }
});

test.afterAll(async () => {
  for (const id of Object.values(vms)) await admin?.delete(`/api/v1/vms/${id}`).catch(() => {});
  await fleet?.stop();
  await admin?.dispose();
});

for (const arch of ["aarch64", "x86_64"] as const) {
  test(`an operator opens the serial console of an ${arch} VM, sees the boot marker and runs a command`, async ({
    browser,
  }) => {
    const ctx = await browser.newContext({ storageState: storageStateFor("operator") });
    const page = await ctx.newPage();
    await page.goto(`/vms/${vms[arch]}`);
    await expect(page.getByTestId("serial-console-status")).toHaveText(/^Connected/, { timeout: 30_000 });
    const out = page.getByTestId("serial-console-output");
    await expect(out).toContainText(`POLYARCH-BOOT-OK arch=${arch}`, { timeout: 120_000 });
    await expect(page.getByTestId("serial-console-readonly")).toHaveCount(0);
    await page.getByTestId("serial-console-input").fill("echo hello-$((6*7))");
    await page.getByTestId("serial-console-input").press("Enter");
    await expect(out).toContainText("hello-42", { timeout: 60_000 });
    await ctx.close();
  });
}

test("a viewer watches read-only: the input is disabled and a ticket never grants write", async ({ browser }) => {
  const ctx = await browser.newContext({ storageState: storageStateFor("viewer") });
  const page = await ctx.newPage();
  await page.goto(`/vms/${vms.x86_64}`);
  await expect(page.getByTestId("serial-console-status")).toHaveText(/^Connected/, { timeout: 30_000 });
  await expect(page.getByTestId("serial-console-output")).toContainText("POLYARCH-BOOT-OK arch=x86_64", {
    timeout: 60_000,
  });
  await expect(page.getByTestId("serial-console-readonly")).toHaveText("read-only");
  await expect(page.getByTestId("serial-console-input")).toBeDisabled();
  const ticket = await page.request.post(`/api/v1/vms/${vms.x86_64}/console-ticket`, { data: { write: true } });
  expect(ticket.status()).toBe(200);
  expect((await ticket.json()).write).toBe(false);
  await ctx.close();
});

test("stale, reused, other-VM and missing tickets are refused; an anonymous user gets no ticket", async () => {
  const operator = await pwRequest.newContext({ baseURL, storageState: storageStateFor("operator") });
  const anon = await pwRequest.newContext({ baseURL });
  try {
    expect((await anon.post(`/api/v1/vms/${vms.x86_64}/console-ticket`, { data: {} })).status()).toBe(401);
    const issue = async (id: string) =>
      (await (await operator.post(`/api/v1/vms/${id}/console-ticket`, { data: {} })).json()) as {
        ticket: string;
        url: string;
        write: boolean;
      };

    const t = await issue(vms.x86_64!);
    expect(t.write).toBe(true);
    expect(await upgradeStatus(t.url)).toBe(101);
    expect(await upgradeStatus(t.url)).toBe(401); // reused

    const other = await issue(vms.aarch64!);
    expect(await upgradeStatus(`/api/v1/vms/${vms.x86_64}/console?ticket=${encodeURIComponent(other.ticket)}`)).toBe(
      403,
    );
    expect(await upgradeStatus(`/api/v1/vms/${vms.x86_64}/console`)).toBe(401);
    expect(await upgradeStatus(`/api/v1/vms/${vms.x86_64}/console?ticket=forged.ticket`)).toBe(401);

    const stale = await issue(vms.x86_64!);
    await new Promise((r) => setTimeout(r, 31_000));
    expect(await upgradeStatus(stale.url)).toBe(401);
  } finally {
    await operator.dispose();
    await anon.dispose();
  }
});
