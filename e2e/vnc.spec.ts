import { test, expect, request as pwRequest, type APIRequestContext } from "@playwright/test";
import { baseURL } from "../playwright.config";
import { expectNoSeriousViolationsInBothSchemes } from "./axe";
import { grabFramebuffer, sendKeys, SYSRQ_ANSWER, SYSRQ_H } from "../agent/src/testing/vnc-client";
import { connectWebSocket, type WebSocket } from "../agent/src/console";
import { GUEST_MARK, GUEST_MARK_ROWS } from "../agent/src/testing/screendump";
import {
  adminApi,
  startMixedFleet,
  ticketFor,
  upgradeStatus as status,
  waitForFleetOnline,
  wsUrl,
  type Fleet,
} from "./console-helpers";
import { storageStateFor } from "./helpers";

// Graphical console (noVNC) on the real mixed fleet, through the custom server's console proxy (server/console-proxy.ts)
// and DB-backed tickets: the guest's own screen reaches the browser canvas on both arches — an
// x86_64 VM's std VGA and an aarch64 VM's virtio-gpu, each driven by the guest kernel, which draws
// a mark (#d03090 across its top rows, scripts/fixtures/init.sh) the canvas must show; a viewer
// watches but its keys never reach the guest (checked on the guest itself: Alt+SysRq+H answers on
// the serial console only when sent by an operator); an aarch64 kernel-boot VM without a display
// says so. One VM per arch at a time, 256 MiB.
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
    // x86_64: the default (always VGA); aarch64: virtio-gpu asked for (a kernel-boot image's default is none)
    const display = arch === "x86_64" ? undefined : "virtio-gpu";
    const res = await admin.post("/api/v1/vms", {
      data: {
        name: `vnc-${arch.replace("_", "")}`,
        arch,
        imageId: image.id,
        vcpus: 1,
        memoryMb: 256,
        diskGb: 1,
        display,
      },
    });
    expect(res.status(), await res.text()).toBe(202);
    const vm = (await res.json()).vm;
    expect(vm.display).toBe(arch === "x86_64" ? "vga" : "virtio-gpu");
    vms[arch] = vm.id;
  }
  for (const id of Object.values(vms)) await waitRunning(id);
  // the kernel is up (its serial marker) before anyone looks at the screen
  const serial = await ticketFor(admin, vms.x86_64!, "serial");
  const ws = await connectWebSocket(wsUrl(serial.url));
  let text = "";
  ws.on("binary", (b) => (text += b.toString("utf8")));
  try {
    await expect.poll(() => text.includes("POLYARCH-BOOT-OK arch=x86_64"), { timeout: 120_000 }).toBe(true);
  } finally {
    ws.terminate();
  }
});

/** Waits for status running, with the VM's last error in the failure, so a failed create says why. */
async function waitRunning(id: string) {
  await expect
    .poll(
      async () => {
        const v = await (await admin.get(`/api/v1/vms/${id}`)).json();
        return v.lastError ? `${v.status}: ${v.lastError}` : v.status;
      },
      { timeout: 180_000 },
    )
    .toBe("running");
}

test.afterAll(async () => {
  for (const id of Object.values(vms)) await admin?.delete(`/api/v1/vms/${id}`).catch(() => {});
  await fleet?.stop();
  await admin?.dispose();
});

/**
 * Share (0..1) of the pixels in the canvas's top GUEST_MARK_ROWS rows that show the guest's mark
 * colour (per channel within 24: VNC may send JPEG-rounded colours); 0 until a framebuffer arrived.
 */
async function guestMarkShare(page: import("@playwright/test").Page) {
  return page.getByTestId("vnc-screen").evaluate(
    (el, { mark, rows }) => {
      const c = el.querySelector("canvas");
      if (!c || c.width === 0 || c.height === 0) return 0;
      const h = Math.min(rows, c.height);
      const data = c.getContext("2d")!.getImageData(0, 0, c.width, h).data;
      let hit = 0;
      for (let i = 0; i < data.length; i += 4) {
        if (
          Math.abs(data[i]! - mark.r) <= 24 &&
          Math.abs(data[i + 1]! - mark.g) <= 24 &&
          Math.abs(data[i + 2]! - mark.b) <= 24
        )
          hit++;
      }
      return hit / (c.width * h);
    },
    { mark: GUEST_MARK, rows: GUEST_MARK_ROWS },
  );
}

/** Distinct colours on the noVNC canvas (and its size); 0 colours until a framebuffer arrived. */
async function canvasStats(page: import("@playwright/test").Page) {
  return page.getByTestId("vnc-screen").evaluate((el) => {
    const c = el.querySelector("canvas");
    if (!c || c.width === 0 || c.height === 0) return { width: 0, height: 0, colours: 0 };
    const data = c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data;
    const seen = new Set<number>();
    for (let i = 0; i < data.length && seen.size < 64; i += 4 * 7)
      seen.add((data[i]! << 16) | (data[i + 1]! << 8) | data[i + 2]!);
    return { width: c.width, height: c.height, colours: seen.size };
  });
}

test("an operator opens the graphical console of an x86_64 VM: the noVNC canvas shows the VGA framebuffer", async ({
  browser,
}) => {
  const ctx = await browser.newContext({ storageState: storageStateFor("operator") });
  const page = await ctx.newPage();
  await page.goto(`/vms/${vms.x86_64}`);
  await page.getByTestId("vm-open-console").click();
  await expect(page).toHaveURL(/\/console\?tab=graphical/);
  await expect(page.getByTestId("vnc-status")).toHaveText(/^Connected/, { timeout: 30_000 });
  await expect(page.getByTestId("vnc-readonly")).toHaveCount(0);
  await expect.poll(async () => (await canvasStats(page)).colours, { timeout: 30_000 }).toBeGreaterThan(1);
  const s = await canvasStats(page);
  expect(s.width).toBeGreaterThan(0);
  expect(s.height).toBeGreaterThan(0);
  // the guest kernel's own framebuffer (bochs-drm), not SeaBIOS's text screen
  await expect.poll(() => guestMarkShare(page), { timeout: 60_000 }).toBeGreaterThan(0.95);
  // The console page with a live guest on it (axe cannot be run on it without one: e2e/a11y.spec.ts).
  await expectNoSeriousViolationsInBothSchemes(page, "/vms/[id]/console graphical");
  await ctx.close();
});

test("an aarch64 VM with virtio-gpu shows the guest's own screen on the noVNC canvas, not 'Display output is not active'", async ({
  browser,
}) => {
  const ctx = await browser.newContext({ storageState: storageStateFor("operator") });
  const page = await ctx.newPage();
  await page.goto(`/vms/${vms.aarch64}/console?tab=graphical`);
  await expect(page.getByTestId("vnc-status")).toHaveText(/^Connected/, { timeout: 30_000 });
  // virtio_gpu is loaded by the guest's init, which then draws: give a TCG boot its time
  await expect.poll(() => guestMarkShare(page), { timeout: 150_000 }).toBeGreaterThan(0.95);
  const s = await canvasStats(page);
  expect(s.colours).toBeGreaterThan(1); // the mark and the console text below it
  await ctx.close();
});

test("a viewer watches view-only, and the server keeps a viewer's keys from the guest", async ({ browser }) => {
  const ctx = await browser.newContext({ storageState: storageStateFor("viewer") });
  const page = await ctx.newPage();
  await page.goto(`/vms/${vms.x86_64}/console?tab=graphical`);
  await expect(page.getByTestId("vnc-status")).toHaveText(/^Connected/, { timeout: 30_000 });
  await expect(page.getByTestId("vnc-readonly")).toHaveText("view only");
  await expect.poll(async () => (await canvasStats(page)).colours, { timeout: 30_000 }).toBeGreaterThan(1);

  // Not the UI's word: a viewer's ticket is read-only whatever it asks for, and the RFB stream it
  // opens drops key events before QEMU. Watch the guest's serial console for SysRq answers.
  const viewerTicket = await ticketFor(page.request, vms.x86_64!, "vnc");
  expect(viewerTicket.write).toBe(false);
  const operator = await pwRequest.newContext({ baseURL, storageState: storageStateFor("operator") });
  const sockets: WebSocket[] = [];
  try {
    const serial = await connectWebSocket(wsUrl((await ticketFor(operator, vms.x86_64!, "serial")).url));
    sockets.push(serial);
    let out = "";
    serial.on("binary", (b) => (out += b.toString("utf8")));
    await expect.poll(() => out.includes("POLYARCH-BOOT-OK"), { timeout: 30_000 }).toBe(true); // scrollback arrived
    const answers = () => out.match(SYSRQ_ANSWER)?.length ?? 0;
    const before = answers();

    const viewerVnc = await connectWebSocket(wsUrl(viewerTicket.url));
    sockets.push(viewerVnc);
    expect((await grabFramebuffer(viewerVnc)).colours).toBeGreaterThan(1);
    sendKeys(viewerVnc, SYSRQ_H);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(answers()).toBe(before);

    const operatorVnc = await connectWebSocket(wsUrl((await ticketFor(operator, vms.x86_64!, "vnc")).url));
    sockets.push(operatorVnc);
    await grabFramebuffer(operatorVnc);
    sendKeys(operatorVnc, SYSRQ_H);
    await expect.poll(answers, { timeout: 30_000 }).toBe(before + 1);
  } finally {
    for (const ws of sockets) ws.terminate();
    await operator.dispose();
  }
  await ctx.close();
});

test("VNC tickets are single use and bound to their console kind", async () => {
  const operator = await pwRequest.newContext({ baseURL, storageState: storageStateFor("operator") });
  try {
    const t = await ticketFor(operator, vms.x86_64!, "vnc");
    expect(t.url).toMatch(/\/vnc\?ticket=/);
    expect(await status(`/api/v1/vms/${vms.x86_64}/console?ticket=${encodeURIComponent(t.ticket)}`)).toBe(403); // not a serial ticket
    expect(await status(t.url)).toBe(101);
    expect(await status(t.url)).toBe(401); // spent (in the database)
  } finally {
    await operator.dispose();
  }
});

test("an aarch64 VM without a display says so and offers the serial console instead of a black screen", async ({
  browser,
}) => {
  // one aarch64 guest at a time: the virtio-gpu one has been seen, a display-less one replaces it
  expect((await admin.delete(`/api/v1/vms/${vms.aarch64}`)).ok()).toBe(true);
  const image = (await (await admin.get(`/api/v1/images?arch=aarch64&q=busybox-demo`)).json()).items[0];
  const created = await admin.post("/api/v1/vms", {
    data: { name: "vnc-aarch64-nodisplay", arch: "aarch64", imageId: image.id, vcpus: 1, memoryMb: 256, diskGb: 1 },
  });
  expect(created.status(), await created.text()).toBe(202);
  const vm = (await created.json()).vm;
  expect(vm.display).toBe("none"); // an aarch64 kernel-boot image's default
  vms.aarch64 = vm.id;
  await waitRunning(vm.id);

  const res = await admin.post(`/api/v1/vms/${vms.aarch64}/console-ticket`, { data: { kind: "vnc" } });
  expect(res.status()).toBe(409);
  expect((await res.json()).error.message).toContain("no graphical display");

  const ctx = await browser.newContext({ storageState: storageStateFor("operator") });
  const page = await ctx.newPage();
  await page.goto(`/vms/${vms.aarch64}/console?tab=graphical`);
  await expect(page.getByTestId("vnc-no-display")).toContainText(
    "This VM has no graphical display — use the serial console",
  );
  await expect(page.getByTestId("vnc-screen")).toHaveCount(0);
  await page.getByTestId("vnc-open-serial").click();
  await expect(page.getByTestId("console-tab-serial")).toHaveAttribute("aria-selected", "true");
  await expect(page.getByTestId("serial-console-status")).toHaveText(/^Connected/, { timeout: 30_000 });
  await expect(page.getByTestId("serial-console-output")).toContainText("POLYARCH-BOOT-OK arch=aarch64", {
    timeout: 120_000,
  });
  await expectNoSeriousViolationsInBothSchemes(page, "/vms/[id]/console serial terminal");
  await ctx.close();
});
