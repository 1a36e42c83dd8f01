import { test, expect, request as pwRequest, type APIRequestContext } from "@playwright/test";
import { baseURL } from "../playwright.config";
import { adminApi, startMixedFleet, upgradeStatus, waitForFleetOnline, type Fleet } from "./console-helpers";
import { storageStateFor } from "./helpers";
import { BrowserTerminal } from "./serial-shell";

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
  await waitForFleetOnline(admin, fleet);
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

test("a viewer watches read-only: typing is disabled, the page sends nothing and a ticket never grants write", async ({
  browser,
}) => {
  // First, while the boot marker is still on the screen of the x86_64 guest (the screen shows the
  // newest rows only; the operators' tests below print more).
  const ctx = await browser.newContext({ storageState: storageStateFor("viewer") });
  const page = await ctx.newPage();
  const sent = BrowserTerminal.recordSent(page);
  await page.goto(`/vms/${vms.x86_64}`);
  await expect(page.getByTestId("serial-console-status")).toHaveText(/^Connected/, { timeout: 30_000 });
  const term = new BrowserTerminal(page);
  await expect(term.out).toContainText("POLYARCH-BOOT-OK arch=x86_64", { timeout: 60_000 });
  await expect(page.getByTestId("serial-console-readonly")).toHaveText("read-only");
  await expect(page.getByTestId("serial-console-input")).toBeDisabled();
  await term.focus();
  await term.line("echo viewer-typed");
  await page.keyboard.press("Control+C");
  await page.waitForTimeout(1_000); // keys reach the socket synchronously; give the frame events time to arrive
  expect(sent, `frames sent (escaped): ${JSON.stringify(sent)}`).toEqual([]);
  const ticket = await page.request.post(`/api/v1/vms/${vms.x86_64}/console-ticket`, { data: { write: true } });
  expect(ticket.status()).toBe(200);
  expect((await ticket.json()).write).toBe(false);
  await ctx.close();
});

for (const arch of ["aarch64", "x86_64"] as const) {
  test(`an operator uses the serial terminal of an ${arch} VM: history, Tab, top and q, Ctrl-C, paste and copy`, async ({
    browser,
  }) => {
    const ctx = await browser.newContext({
      storageState: storageStateFor("operator"),
      permissions: ["clipboard-read", "clipboard-write"],
    });
    // The guest may print its first prompt only after a page has connected: that live cursor-position
    // query ("ESC[6n") is answered, as any terminal would. So a first page waits for the prompt, and the
    // page under test then gets every query only in the replayed scrollback.
    const first = await ctx.newPage();
    await first.goto(`/vms/${vms[arch]}`);
    const warm = new BrowserTerminal(first);
    await expect(warm.out).toContainText(`POLYARCH-BOOT-OK arch=${arch}`, { timeout: 120_000 });
    // The guest takes its name from the NoCloud seed, read in the background (scripts/fixtures/init.sh):
    // on a busy machine the shell's first prompt can come before it, still with the old name. Once the
    // seed is read, a prompt that is not there by then is asked for with Enter, as a person would.
    await warm.waitForRow((r) => r.startsWith("POLYARCH-SEED hostname="), "the seed's hostname", 120_000);
    const named = (r: string) => /^console-\w+:.*#$/.test(r);
    if (
      !(await warm.waitForRow(named, "the shell's first prompt", 15_000).then(
        () => true,
        () => false,
      ))
    ) {
      await warm.focus();
      await first.keyboard.press("Enter");
    }
    await warm.waitForRow(named, "the shell's first prompt", 120_000);
    await first.close();

    const page = await ctx.newPage();
    const sent = BrowserTerminal.recordSent(page);
    await page.goto(`/vms/${vms[arch]}`);
    await expect(page.getByTestId("serial-console-status")).toHaveText(/^Connected/, { timeout: 30_000 });
    const term = new BrowserTerminal(page);
    await expect(term.out).toContainText(`POLYARCH-BOOT-OK arch=${arch}`, { timeout: 30_000 });
    // the replayed scrollback holds the shell's cursor-position queries: none is answered
    await term.waitForRow((r) => /^console-\w+:.*#$/.test(r), "the shell's prompt");
    await page.waitForTimeout(500); // a reply would have been sent while the scrollback was drawn; let its frame event arrive
    expect(sent, `frames sent (escaped): ${JSON.stringify(sent)}`).toEqual([]);
    await expect(page.getByTestId("serial-console-readonly")).toHaveCount(0);
    await expect(page.getByTestId("serial-console-input")).toBeEnabled();
    await term.focus();
    const tag = arch === "x86_64" ? "x" : "a";
    await term.shellReady(tag);
    expect(sent.join("")).toContain(`echo READY-${tag}1-$((6*7))\r`); // what is typed does go out

    // a command, then the up arrow recalls it: it runs twice
    await term.line(`echo hello-${tag}-$((6*7))`);
    await term.waitForRow((r) => r === `hello-${tag}-42`, "the command's output");
    await page.keyboard.press("ArrowUp");
    await page.keyboard.press("Enter");
    await expect.poll(() => term.count(`hello-${tag}-42`), { message: "the recalled command ran again" }).toBe(2);

    // Tab completes a file name in the guest's shell
    await page.keyboard.type(`echo tab-${tag} /proc/upti`);
    await page.keyboard.press("Tab");
    await page.keyboard.press("Enter");
    await term.waitForRow((r) => r === `tab-${tag} /proc/uptime`, "the name Tab completed");

    // a full-screen program: top draws its screen and quits on q, back at the prompt
    await term.line("top");
    await term.waitForRow((r) => r.startsWith("Mem:"), "top's summary");
    await term.waitForRow((r) => /^\s*PID\s+PPID\s+USER\b/.test(r), "top's process list");
    await page.keyboard.press("q");
    await term.line(`echo after-top-${tag}-$((6*7))`);
    await term.waitForRow((r) => r === `after-top-${tag}-42`, "the prompt after quitting top");

    // Ctrl-C interrupts a running sleep: the shell reports it died of SIGINT (128 + 2)
    await term.line(`sh -c 'echo sleeping-${tag}-$((6*7)); exec sleep 100'`);
    await term.waitForRow((r) => r === `sleeping-${tag}-42`, "the sleep started");
    await page.keyboard.press("Control+C");
    await term.line(`echo rc-${tag}-$?`);
    await term.waitForRow((r) => r === `rc-${tag}-130`, "Ctrl-C ended the sleep", 20_000);

    // paste (Ctrl-Shift-V) and copy (double-click a word, Ctrl-Shift-C) through the browser's clipboard
    await page.evaluate((t) => navigator.clipboard.writeText(t), `echo pasted-${tag}-$((6*7))`);
    await page.keyboard.press("Control+Shift+V");
    await page.keyboard.press("Enter");
    await term.waitForRow((r) => r === `pasted-${tag}-42`, "the pasted command's output");
    await page.evaluate(() => navigator.clipboard.writeText(""));
    const row = term.out.locator(".xterm-rows > div").filter({ hasText: new RegExp(`^pasted-${tag}-42\\s*$`) });
    // xterm's screen layer takes the mouse events: double-click where the row's first characters are
    await term.out.scrollIntoViewIfNeeded();
    const box = (await row.last().boundingBox())!;
    await page.mouse.dblclick(box.x + 8, box.y + box.height / 2);
    await page.keyboard.press("Control+Shift+C");
    await expect.poll(() => page.evaluate(() => navigator.clipboard.readText())).toBe(`pasted-${tag}-42`);
    await ctx.close();
  });
}

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
