import { test, expect, request as pwRequest } from "@playwright/test";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { baseURL } from "../playwright.config";
import { storageStateFor } from "./helpers";

// Finding 1 of issue 12 in a real browser: a page served from ANOTHER PORT of the same host is
// same-site with the console, so Chromium sends the admin's SameSite=Lax session cookie with its
// POSTs. Those writes must be refused (ADR 023) — by a form (top-level navigation, no CORS at all)
// and by fetch (text/plain needs no preflight) — and leave nothing behind.
const USER_BODY = (email: string) => ({ email, name: "Cross Site", role: "admin", password: "cross-site-pass-1" });
const VM_BODY = { name: "xsite-vm", arch: "x86_64", vcpus: 1, memoryMb: 128, diskGb: 1, family: "xsite" };

function attackerPage(target: string, email: string): string {
  // A text/plain form whose one field name+value spells a JSON object: the classic CSRF-to-JSON trick.
  const json = JSON.stringify(USER_BODY(email));
  const name = json.slice(0, -2);
  const value = json.slice(-2);
  return `<!doctype html><html><body>
<form id="f" method="POST" action="${target}/api/v1/users" enctype="text/plain">
  <input type="hidden" name='${name}' value='${value}'>
</form>
<script>
  fetch(${JSON.stringify(target + "/api/v1/vms")}, {
    method: "POST", mode: "no-cors", credentials: "include",
    headers: { "content-type": "text/plain" }, body: ${JSON.stringify(JSON.stringify(VM_BODY))},
  }).finally(() => { document.title = "fetched"; document.getElementById("f").submit(); });
</script></body></html>`;
}

let server: http.Server;
let attackerOrigin = "";

test.beforeAll(async () => {
  server = http.createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/html" });
    res.end(attackerPage(baseURL, new URL(req.url ?? "/", "http://x").searchParams.get("email") ?? ""));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  attackerOrigin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

test.afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

test("a page on another port cannot create a user or a VM with the admin's cookie", async ({ browser }) => {
  const email = `xsite-${Date.now()}@e2e.test`;
  const ctx = await browser.newContext({ storageState: storageStateFor("admin") });
  const admin = await pwRequest.newContext({ baseURL, storageState: storageStateFor("admin") });
  try {
    const vmsBefore = (await (await admin.get("/api/v1/vms?q=xsite-vm")).json()).total;
    const page = await ctx.newPage();
    const answer = page.waitForResponse(
      (r) => r.url() === `${baseURL}/api/v1/users` && r.request().method() === "POST",
    );
    await page.goto(`${attackerOrigin}/?email=${encodeURIComponent(email)}`);
    // The browser did send it (same-site: the cookie rode along) and the console refused it.
    const res = await answer;
    expect((await res.request().allHeaders())["cookie"]).toContain("better-auth");
    expect(res.status()).toBe(403);
    await expect(page.locator("body")).toContainText("Cross-site request refused");

    const users = (await (await admin.get("/api/v1/users")).json()) as { items: { email: string }[] };
    expect(users.items.map((u) => u.email)).not.toContain(email);
    expect((await (await admin.get("/api/v1/vms?q=xsite-vm")).json()).total).toBe(vmsBefore);

    // Positive control: the very same body, same-origin as JSON, is a valid request — so the 403
    // above is the origin check, not a malformed body.
    const control = await admin.post("/api/v1/users", { data: USER_BODY(`control-${email}`) });
    expect(control.status(), await control.text()).toBe(201);
  } finally {
    await admin.dispose();
    await ctx.close();
  }
});

test("instance-type writes from another port are refused (403) with the admin's cookie, and leave nothing behind", async () => {
  const admin = await pwRequest.newContext({ baseURL, storageState: storageStateFor("admin") });
  const name = `xsite-${Date.now().toString(36)}`;
  const body = { name, vcpus: 1, memoryMb: 256, diskGb: 1 };
  try {
    const made = await admin.post("/api/v1/instance-types", { data: { ...body, name: `${name}-ok` } });
    expect(made.status(), await made.text()).toBe(201); // positive control: same origin, JSON
    const { id } = (await made.json()) as { id: string };
    // What a browser sends from a page on another port of the same host: its Origin, same-site, text/plain.
    const crossSite = { origin: attackerOrigin, "sec-fetch-site": "same-site", "content-type": "text/plain" };
    const answers = [
      await admin.post("/api/v1/instance-types", { headers: crossSite, data: JSON.stringify(body) }),
      await admin.patch(`/api/v1/instance-types/${id}`, { headers: crossSite, data: JSON.stringify({ vcpus: 8 }) }),
      await admin.delete(`/api/v1/instance-types/${id}`, {
        headers: { origin: attackerOrigin, "sec-fetch-site": "same-site" },
      }),
    ];
    for (const a of answers) expect(a.status(), a.url()).toBe(403);
    const list = (await (await admin.get("/api/v1/instance-types")).json()) as {
      items: { name: string; vcpus: number }[];
    };
    expect(list.items.filter((t) => t.name === name)).toEqual([]);
    expect(list.items.find((t) => t.name === `${name}-ok`)?.vcpus).toBe(1);
    expect((await admin.delete(`/api/v1/instance-types/${id}`)).status()).toBe(200);
  } finally {
    await admin.dispose();
  }
});
