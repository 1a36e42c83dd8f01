import { test, expect, type APIRequestContext } from "@playwright/test";
import { DEFAULT_PROJECT_ID } from "../lib/schemas/projects";
import { adminApi, startMixedFleet, waitForFleetOnline, type Fleet } from "./console-helpers";
import { signIn, storageStateFor } from "./helpers";

// An open console ends with its user's authorisation (issue 12, ADR 029): an operator has the serial
// console of a VM open, an admin disables them in another browser, and within 5 s the operator's
// page shows the console closed, with the reason, and does not reconnect. One x86_64 guest on the
// shared e2e fleet (the same data dir as console.spec.ts).
let fleet: Fleet;
let admin: APIRequestContext;
let vmId = "";
const email = `console-revoke-${Date.now()}@e2e.test`;
const password = "console-revoke-pass-1";

test.describe.configure({ mode: "serial" });
test.setTimeout(300_000);

test.beforeAll(async () => {
  fleet = await startMixedFleet();
  admin = await adminApi();
  await waitForFleetOnline(admin, fleet);
  // new users join the default project; the VM goes there too
  const user = await admin.post("/api/v1/users", {
    data: { email, name: "Console revoke operator", role: "operator", password },
  });
  expect(user.status(), await user.text()).toBe(201);
  const image = (await (await admin.get(`/api/v1/images?arch=x86_64&q=busybox-demo`)).json()).items[0];
  const res = await admin.post("/api/v1/vms", {
    data: {
      name: `console-revoke-${Date.now() % 100_000}`,
      arch: "x86_64",
      imageId: image.id,
      vcpus: 1,
      memoryMb: 256,
      diskGb: 1,
      projectId: DEFAULT_PROJECT_ID,
    },
  });
  expect(res.status(), await res.text()).toBe(202);
  vmId = (await res.json()).vm.id;
  await expect
    .poll(async () => (await (await admin.get(`/api/v1/vms/${vmId}`)).json()).status, { timeout: 180_000 })
    .toBe("running");
});

test.afterAll(async () => {
  if (vmId) await admin?.delete(`/api/v1/vms/${vmId}`).catch(() => {});
  await fleet?.stop();
  await admin?.dispose();
});

test("an admin disables a user whose console is open in another browser: it closes within 5 s and says why", async ({
  browser,
}) => {
  const opCtx = await browser.newContext();
  const op = await opCtx.newPage();
  await signIn(op, email, password);
  await op.goto(`/vms/${vmId}`);
  const status = op.getByTestId("serial-console-status");
  await expect(status).toHaveText(/^Connected/, { timeout: 30_000 });
  await expect(op.getByTestId("serial-console-input")).toBeEnabled();
  // Once the session is gone the page's own requests would send it to the login form, which would end
  // the console from the browser's side. Cancel that navigation (the page stays) so that what is seen
  // is the server closing the console, as it must for a client that does not go away by itself.
  await op.route(/\/login(\?|$)/, (route) => route.abort("aborted"));
  const ticketRequests: number[] = [];
  op.on("request", (r) => r.url().includes("/console-ticket") && ticketRequests.push(Date.now()));

  const adminCtx = await browser.newContext({ storageState: storageStateFor("admin") });
  const adminPage = await adminCtx.newPage();
  await adminPage.goto("/users");
  adminPage.once("dialog", (d) => d.accept());
  await adminPage.getByTestId(`user-${email}`).getByRole("button", { name: "Disable" }).click();
  await expect(adminPage.getByTestId(`user-${email}`)).toContainText("disabled");
  const disabledAt = Date.now();

  const closed = /^Closed\s*\(access revoked: your account was disabled\)$/;
  await expect(status).toHaveText(closed, { timeout: 10_000 });
  expect(Date.now() - disabledAt).toBeLessThan(5_000);
  await expect(op.getByTestId("serial-console-input")).toBeDisabled();
  await expect(op.getByTestId("serial-console-status-reconnect")).toBeVisible();
  // It stays closed: no reconnect loop behind the person's back (a disabled user gets no ticket anyway).
  const closedAt = Date.now();
  await op.waitForTimeout(3_000);
  expect(ticketRequests.filter((t) => t >= closedAt)).toEqual([]);
  // The page's own refresh of the VM (every 3 s) now fails too; the VM stays on the page under that
  // error, so the closed console and its reason stay in view (they once vanished with the whole page).
  await expect(op.getByTestId("vm-refresh-error")).toBeVisible({ timeout: 20_000 });
  await expect(status).toHaveText(closed);

  await adminCtx.close();
  await opCtx.close();
});
