import { test, expect, request as pwRequest, type APIRequestContext, type Page } from "@playwright/test";
import { readFileSync } from "node:fs";
import { baseURL } from "../playwright.config";
import { storageStateFor } from "./helpers";

// Floating IPs page (issue 18, ADR 058), UI only, no guests: an admin creates an external network
// (TEST-NET-2, no gateway); an operator creates a router for a network of its project, turns SNAT off,
// allocates a floating IP, sees it listed and releases it; everything is deleted again. A viewer reads
// the page without any form or button, and a server action sent as viewer is refused (403).
// VLAN 3980 and 10.239.80.0/24 keep the project network apart from what other specs create.

test.describe.configure({ mode: "serial" });

const run = Date.now().toString(36);
const EXT = `e2e-ext-${run}`;
const NET = `e2e-fip-net-${run}`;
const ROUTER = `e2e-router-${run}`;
const FIP_DESCRIPTION = `e2e-fip-${run}`;

function actionId(name: string): string {
  const manifest = JSON.parse(readFileSync(".next/server/server-reference-manifest.json", "utf8"));
  const entry = Object.entries(manifest.node as Record<string, { exportedName?: string }>).find(
    ([, v]) => v.exportedName === name,
  );
  if (!entry) throw new Error(`server action ${name} not in the manifest`);
  return entry[0];
}

type Named = { id: string; name?: string; description?: string | null };
async function items(api: APIRequestContext, path: string): Promise<Named[]> {
  const res = await api.get(path);
  if (!res.ok()) return [];
  const body = await res.json();
  return Array.isArray(body) ? body : (body.items ?? []);
}

/** Whatever a failed run left behind, in dependency order (floating IPs, router, network, external network). */
async function cleanUp() {
  const admin = await pwRequest.newContext({ baseURL, storageState: storageStateFor("admin") });
  try {
    for (const f of await items(admin, "/api/v1/floating-ips"))
      if (f.description === FIP_DESCRIPTION) await admin.delete(`/api/v1/floating-ips/${f.id}`);
    for (const r of await items(admin, "/api/v1/routers"))
      if (r.name === ROUTER) await admin.delete(`/api/v1/routers/${r.id}`);
    for (const n of await items(admin, `/api/v1/networks?q=${NET}`))
      if (n.name === NET) await admin.delete(`/api/v1/networks/${n.id}`);
    for (const x of await items(admin, "/api/v1/external-networks"))
      if (x.name === EXT) await admin.delete(`/api/v1/external-networks/${x.id}`);
  } finally {
    await admin.dispose();
  }
}

test.afterAll(cleanUp);

const status = (page: Page, text: string) => page.getByRole("status").filter({ hasText: text });

test("admin creates an external network; an operator routes a project network through it, allocates a floating IP and releases it", async ({
  browser,
}) => {
  // Admin: the external network, TEST-NET-2 without a gateway (routers reach only that subnet).
  const adminCtx = await browser.newContext({ storageState: storageStateFor("admin") });
  const admin = await adminCtx.newPage();
  await admin.goto("/floating-ips");
  await expect(admin.getByRole("heading", { name: "Floating IPs", level: 1 })).toBeVisible();
  const extForm = admin.getByRole("form", { name: "Create an external network" });
  await extForm.getByRole("button", { name: "Create an external network" }).click();
  await expect(extForm.getByTestId("error-external-cidr")).toBeVisible(); // zod's message at the field
  await expect(extForm.getByLabel("CIDR")).toHaveAttribute("aria-invalid", "true");
  await extForm.getByLabel("Name").fill(EXT);
  await extForm.getByLabel("CIDR").fill("198.51.100.0/24");
  await extForm.getByRole("button", { name: "Create an external network" }).click();
  await expect(status(admin, `Created external network ${EXT}.`)).toBeVisible();
  const extRow = admin.getByTestId(`external-${EXT}`);
  await expect(extRow).toContainText("198.51.100.0/24");
  await expect(extRow).toContainText("none");
  await expect(extRow).toContainText("198.51.100.1–198.51.100.254");
  await expect(extRow.getByTestId("used")).toHaveText("0 of 254");

  // Operator: a network of its own project (through the API), then the router and a floating IP in the UI.
  const opCtx = await browser.newContext({ storageState: storageStateFor("operator") });
  const op = await opCtx.newPage();
  const project = (await (await op.request.get("/api/v1/projects")).json()).items[0];
  const net = await op.request.post("/api/v1/networks", {
    data: { name: NET, vlanId: 3980, cidr: "10.239.80.0/24", gateway: "10.239.80.1", projectId: project.id },
  });
  expect(net.status(), await net.text()).toBe(201);

  await op.goto("/floating-ips");
  await expect(op.getByRole("form", { name: "Create an external network" })).toHaveCount(0);
  await expect(op.getByRole("button", { name: `Delete external network ${EXT}` })).toHaveCount(0);
  await expect(op.getByTestId(`external-${EXT}`)).toBeVisible();

  const routerForm = op.getByRole("form", { name: "Create a router" });
  await routerForm.getByLabel("Name").fill(ROUTER);
  await routerForm.getByLabel("Network", { exact: true }).selectOption({ label: `${NET} (10.239.80.0/24)` });
  await routerForm.getByLabel("External network").selectOption({ label: `${EXT} (198.51.100.0/24)` });
  await expect(routerForm.getByLabel(/SNAT/)).toBeChecked();
  await routerForm.getByRole("button", { name: "Create a router" }).click();
  await expect(status(op, `Created router ${ROUTER}`)).toBeVisible();
  const router = op.getByRole("region", { name: `Router ${ROUTER}` });
  await expect(router).toContainText(`network ${NET} → ${EXT}`);
  await expect(router.getByTestId("snat")).toHaveText("SNAT on");
  await router.getByRole("button", { name: `Turn SNAT off for ${ROUTER}` }).click();
  await expect(router.getByTestId("snat")).toHaveText("SNAT off");
  // One router per network: the routed network is no longer offered.
  await expect(routerForm.getByLabel("Network", { exact: true }).locator("option", { hasText: NET })).toHaveCount(0);

  const fipForm = op.getByRole("form", { name: "Allocate a floating IP" });
  await fipForm.getByLabel("External network").selectOption({ label: `${EXT} (198.51.100.0/24)` });
  await fipForm.getByLabel("Project").selectOption(project.id);
  await fipForm.getByLabel("Description").fill(FIP_DESCRIPTION);
  await fipForm.getByRole("button", { name: "Allocate a floating IP" }).click();
  await expect(status(op, "Floating IP allocated.")).toBeVisible();
  const fipRow = op.locator('tr[data-testid^="floating-ip-"]').filter({ hasText: FIP_DESCRIPTION });
  await expect(fipRow).toHaveCount(1);
  const address = (await fipRow.getAttribute("data-testid"))!.replace("floating-ip-", "");
  expect(address).toMatch(/^198\.51\.100\.\d{1,3}$/);
  await expect(fipRow).toContainText(EXT);
  await expect(fipRow).toContainText(project.name);
  await expect(fipRow.getByTestId("mapping")).toHaveText("not mapped");

  // The external network is in use: the admin's delete is refused and says so.
  await admin.reload();
  await expect(admin.getByTestId(`external-${EXT}`)).toBeVisible();
  admin.once("dialog", (d) => void d.accept());
  await admin.getByRole("button", { name: `Delete external network ${EXT}` }).click();
  await expect(admin.getByRole("alert").filter({ hasText: /\S/ })).toBeVisible();
  await expect(admin.getByTestId(`external-${EXT}`)).toBeVisible();

  // Release (dismissing the confirmation first keeps it), then delete the router.
  op.once("dialog", (d) => void d.dismiss());
  await fipRow.getByRole("button", { name: `Release ${address}` }).click();
  await expect(fipRow).toHaveCount(1);
  op.once("dialog", (d) => {
    expect(d.message()).toContain(address);
    void d.accept();
  });
  await fipRow.getByRole("button", { name: `Release ${address}` }).click();
  await expect(status(op, `Released ${address}.`)).toBeVisible();
  await expect(fipRow).toHaveCount(0);

  op.once("dialog", (d) => void d.accept());
  await router.getByRole("button", { name: `Delete router ${ROUTER}` }).click();
  await expect(status(op, `Deleted router ${ROUTER}.`)).toBeVisible();
  await expect(router).toHaveCount(0);
  expect((await op.request.delete(`/api/v1/networks/${(await net.json()).id}`)).status()).toBe(200);

  // Nothing uses the external network any more: the admin deletes it.
  await admin.reload();
  admin.once("dialog", (d) => {
    expect(d.message()).toContain(EXT);
    void d.accept();
  });
  await admin.getByRole("button", { name: `Delete external network ${EXT}` }).click();
  await expect(status(admin, `Deleted external network ${EXT}.`)).toBeVisible();
  await expect(admin.getByTestId(`external-${EXT}`)).toHaveCount(0);
  await opCtx.close();
  await adminCtx.close();
});

test("a viewer reads the page without forms or buttons, and a server action as viewer gets 403", async ({
  browser,
}) => {
  const ctx = await browser.newContext({ storageState: storageStateFor("viewer") });
  const page = await ctx.newPage();
  expect((await page.goto("/floating-ips"))?.status()).toBe(200);
  await expect(page.getByRole("heading", { name: "Floating IPs", level: 1 })).toBeVisible();
  for (const heading of ["Routers", "External networks"])
    await expect(page.getByRole("heading", { name: heading, level: 2 })).toBeVisible();
  await expect(page.getByRole("form")).toHaveCount(0);
  await expect(page.getByRole("main").getByRole("button")).toHaveCount(0);

  const viewer = await pwRequest.newContext({ baseURL, storageState: storageStateFor("viewer") });
  for (const [name, input] of [
    ["createExternalNetworkAction", { name: "sneaky", cidr: "198.51.100.0/24" }],
    ["createFloatingIpAction", { externalNetworkId: "x" }],
    ["createRouterAction", { name: "sneaky", networkId: "x", externalNetworkId: "y", snat: true }],
  ] as const) {
    const res = await viewer.post("/floating-ips", {
      headers: {
        "Next-Action": actionId(name),
        "content-type": "text/plain;charset=UTF-8",
        accept: "text/x-component",
      },
      data: JSON.stringify([input]),
    });
    expect(res.status(), name).toBe(403);
  }
  expect((await items(viewer, "/api/v1/external-networks")).some((x) => x.name === "sneaky")).toBe(false);
  await viewer.dispose();
  await ctx.close();
});
