import { test, expect, request as pwRequest } from "@playwright/test";
import { readFileSync } from "node:fs";
import { baseURL } from "../playwright.config";
import { storageStateFor } from "./helpers";

// Networks: admins create/delete them in the UI and the API (shared ones by default); bad input gets
// clear messages; viewers see the list but cannot change it; operators create and delete networks of
// their own projects only, never shared ones (the server refuses, whatever the page shows).
// VLANs 39xx and 10.239.x.x keep these rows apart from anything other specs create.

function actionId(name: string): string {
  const manifest = JSON.parse(readFileSync(".next/server/server-reference-manifest.json", "utf8"));
  const entry = Object.entries(manifest.node as Record<string, { exportedName?: string }>).find(
    ([, v]) => v.exportedName === name,
  );
  if (!entry) throw new Error(`server action ${name} not in the manifest`);
  return entry[0];
}

test.describe("admin", () => {
  test.use({ storageState: storageStateFor("admin") });

  test("creates a network in the UI, sees it listed with its pool and free addresses, and deletes it after confirming", async ({
    page,
    request,
  }) => {
    await page.goto("/networks");
    await expect(page.getByRole("heading", { name: "Networks", level: 1 })).toBeVisible();
    const form = page.getByRole("form", { name: "Create network" });
    await form.getByLabel("Name").fill("e2e-lan");
    await form.getByLabel("VLAN").fill("3901");
    await form.getByLabel("CIDR").fill("10.239.1.0/24");
    await form.getByLabel("Gateway").fill("10.239.1.1");
    await expect(page.getByTestId("pool-preview")).toHaveText(
      "Pool 10.239.1.1–10.239.1.254: 253 addresses for VMs (gateway 10.239.1.1 excluded).",
    );
    await form.getByRole("button", { name: "Create network" }).click();
    await expect(page.getByRole("status")).toHaveText("Created network e2e-lan.");

    const row = page.getByTestId("network-e2e-lan");
    await expect(row).toContainText("3901");
    await expect(row).toContainText("10.239.1.0/24");
    await expect(row).toContainText("10.239.1.1–10.239.1.254");
    await expect(row.getByTestId("free")).toHaveText("253");
    await expect(row.getByTestId("used")).toHaveText("0");

    // The same network through the API, with a custom pool.
    const created = await request.post("/api/v1/networks", {
      data: {
        name: "e2e-dmz",
        vlanId: 3902,
        cidr: "10.239.2.0/28",
        gateway: "10.239.2.1",
        poolStart: "10.239.2.2",
        poolEnd: "10.239.2.11",
      },
    });
    expect(created.status(), await created.text()).toBe(201);
    const dmz = await created.json();
    expect(dmz).toMatchObject({ poolSize: 10, freeAddresses: 10, usedAddresses: 0, prefixLength: 28 });
    await expect(page.getByTestId("network-e2e-dmz").getByTestId("free")).toHaveText("10"); // the list polls

    page.once("dialog", (d) => {
      expect(d.message()).toContain("Delete network e2e-dmz");
      void d.accept();
    });
    await page.getByRole("button", { name: "Delete network e2e-dmz" }).click();
    await expect(page.getByRole("status")).toHaveText("Deleted network e2e-dmz.");
    await expect(page.getByTestId("network-e2e-dmz")).toHaveCount(0);
    expect((await request.get(`/api/v1/networks/${dmz.id}`)).status()).toBe(404);

    // Dismissing the confirmation deletes nothing.
    page.once("dialog", (d) => void d.dismiss());
    await page.getByRole("button", { name: "Delete network e2e-lan" }).click();
    await expect(page.getByTestId("network-e2e-lan")).toBeVisible();
  });

  test("bad input in the form: VLAN 5000 and a gateway outside the CIDR show clear messages at their fields; an overlap is refused by the server", async ({
    page,
    request,
  }) => {
    const before = (await (await request.get("/api/v1/networks")).json()).total;
    await page.goto("/networks");
    const form = page.getByRole("form", { name: "Create network" });
    await form.getByLabel("Name").fill("e2e-bad");
    await form.getByLabel("VLAN").fill("5000");
    await form.getByLabel("CIDR").fill("10.239.3.0/24");
    await form.getByLabel("Gateway").fill("10.239.4.1");
    await form.getByLabel("Pool start").fill("10.239.3.50");
    await form.getByLabel("Pool end").fill("10.239.3.10");
    await form.getByRole("button", { name: "Create network" }).click();
    await expect(page.getByTestId("error-vlanId")).toHaveText("VLAN must be between 1 and 4094");
    await expect(page.getByTestId("error-gateway")).toHaveText("gateway 10.239.4.1 is outside 10.239.3.0/24");
    await expect(page.getByTestId("error-poolEnd")).toHaveText("pool end 10.239.3.10 is before pool start 10.239.3.50");
    await expect(form.getByLabel("VLAN")).toHaveAttribute("aria-invalid", "true");
    await expect(page.getByRole("alert").filter({ hasText: /\S/ })).toHaveText("Fix the highlighted fields.");

    // Fixing a field clears its message live.
    await form.getByLabel("VLAN").fill("3903");
    await expect(page.getByTestId("error-vlanId")).toHaveCount(0);
    await form.getByLabel("CIDR").fill("10.239.1.128/25"); // inside e2e-lan's 10.239.1.0/24
    await form.getByLabel("Gateway").fill("10.239.1.129");
    await form.getByLabel("Pool start").fill("");
    await form.getByLabel("Pool end").fill("");
    await expect(page.getByTestId("error-gateway")).toHaveCount(0);
    await form.getByRole("button", { name: "Create network" }).click();
    await expect(page.getByRole("alert").filter({ hasText: /\S/ })).toHaveText(
      "10.239.1.128/25 overlaps network e2e-lan (10.239.1.0/24).",
    );
    expect((await (await request.get("/api/v1/networks")).json()).total).toBe(before);
  });

  test("the API answers bad input with 400 and clear messages, clashes with 409 naming the other network, unknown ids with 404", async ({
    request,
  }) => {
    const bad = async (data: Record<string, unknown>, status: number, message: string | RegExp) => {
      const res = await request.post("/api/v1/networks", { data });
      expect(res.status(), JSON.stringify(data)).toBe(status);
      const { error } = await res.json();
      expect(error.message).toMatch(message);
    };
    const ok = { name: "e2e-api", vlanId: 3910, cidr: "10.239.10.0/24", gateway: "10.239.10.1" };
    await bad({ ...ok, vlanId: 5000 }, 400, "vlanId: VLAN must be between 1 and 4094");
    await bad({ ...ok, vlanId: 0 }, 400, "VLAN must be between 1 and 4094");
    await bad({ ...ok, gateway: "10.0.1.1" }, 400, "gateway: gateway 10.0.1.1 is outside 10.239.10.0/24");
    await bad({ ...ok, cidr: "10.239.10.0/31" }, 400, "prefix /31 is not supported");
    await bad(
      { ...ok, poolStart: "10.239.10.90", poolEnd: "10.239.10.9" },
      400,
      "pool end 10.239.10.9 is before pool start 10.239.10.90",
    );
    await bad({ ...ok, name: undefined }, 400, "name");

    const created = await request.post("/api/v1/networks", { data: ok });
    expect(created.status()).toBe(201);
    const net = await created.json();
    await bad(
      { ...ok, name: "e2e-api-2", vlanId: 3911, cidr: "10.239.0.0/16", gateway: "10.239.0.1" },
      409,
      /10\.239\.0\.0\/16 overlaps network e2e-/,
    );
    await bad(
      { ...ok, name: "e2e-api-3", cidr: "10.239.11.0/24", gateway: "10.239.11.1" },
      409,
      "VLAN 3910 is already used by network e2e-api.",
    );
    await bad(
      { ...ok, vlanId: 3912, cidr: "10.239.12.0/24", gateway: "10.239.12.1" },
      409,
      "A network named e2e-api already exists.",
    );

    const patched = await request.patch(`/api/v1/networks/${net.id}`, {
      data: { name: "e2e-api-renamed", poolStart: "10.239.10.100", poolEnd: "10.239.10.199" },
    });
    expect(patched.status(), await patched.text()).toBe(200);
    expect(await patched.json()).toMatchObject({ name: "e2e-api-renamed", poolSize: 100, freeAddresses: 100 });
    const badPatch = await request.patch(`/api/v1/networks/${net.id}`, { data: { poolEnd: "10.239.10.50" } });
    expect(badPatch.status()).toBe(400);
    expect((await badPatch.json()).error.message).toContain("pool end 10.239.10.50 is before pool start 10.239.10.100");

    const list = await (await request.get("/api/v1/networks?q=e2e-api")).json();
    expect(list).toMatchObject({ total: 1, items: [{ name: "e2e-api-renamed", vlanId: 3910 }] });
    expect((await request.get("/api/v1/networks?sort=password")).status()).toBe(400);

    expect((await request.delete(`/api/v1/networks/${net.id}`)).status()).toBe(200);
    const gone = await request.get(`/api/v1/networks/${net.id}`);
    expect(gone.status()).toBe(404);
    expect((await gone.json()).error.code).toBe("not_found");
    expect((await request.delete(`/api/v1/networks/${net.id}`)).status()).toBe(404);
  });
});

test("a viewer reads networks but every change gets 403 (API and server action), changes nothing, and sees no form", async ({
  browser,
}) => {
  const viewer = await pwRequest.newContext({ baseURL, storageState: storageStateFor("viewer") });
  const admin = await pwRequest.newContext({ baseURL, storageState: storageStateFor("admin") });
  const before = await (await admin.get("/api/v1/networks")).json();
  const target = before.items[0]?.id ?? "some-network";

  const list = await viewer.get("/api/v1/networks");
  expect(list.status()).toBe(200);
  const post = await viewer.post("/api/v1/networks", {
    data: { name: "sneaky", vlanId: 3999, cidr: "10.239.99.0/24", gateway: "10.239.99.1" },
  });
  expect(post.status()).toBe(403);
  expect((await post.json()).error).toMatchObject({
    code: "forbidden",
    message: expect.stringContaining("Your role (viewer)"),
  });
  expect((await viewer.patch(`/api/v1/networks/${target}`, { data: { name: "sneaky" } })).status()).toBe(403);
  expect((await viewer.delete(`/api/v1/networks/${target}`)).status()).toBe(403);
  const action = await viewer.post("/networks", {
    headers: {
      "Next-Action": actionId("createNetworkAction"),
      "content-type": "text/plain;charset=UTF-8",
      accept: "text/x-component",
    },
    data: JSON.stringify([
      { name: "sneaky2", vlanId: "3998", cidr: "10.239.98.0/24", gateway: "10.239.98.1", poolStart: "", poolEnd: "" },
    ]),
  });
  expect(action.status()).toBe(403);

  const after = await (await admin.get("/api/v1/networks")).json();
  expect(after.total).toBe(before.total);
  const denied = await (await admin.get(`/api/v1/audit?q=network.&status=denied&pageSize=200`)).json();
  expect(denied.total).toBeGreaterThanOrEqual(4);

  const ctx = await browser.newContext({ storageState: storageStateFor("viewer") });
  const page = await ctx.newPage();
  expect((await page.goto("/networks"))?.status()).toBe(200);
  await expect(page.getByRole("heading", { name: "Networks", level: 1 })).toBeVisible();
  await expect(page.getByRole("form", { name: "Create network" })).toHaveCount(0);
  await ctx.close();
  await viewer.dispose();
  await admin.dispose();
});

test.describe("operator", () => {
  test.use({ storageState: storageStateFor("operator") });

  test("sees shared networks read-only, may not create a shared one, and creates and deletes a network of its own project", async ({
    page,
    request,
  }) => {
    await page.goto("/networks");
    const row = page.getByTestId("network-e2e-lan");
    await expect(row).toContainText("3901");
    await expect(row).toContainText("10.239.1.0/24");
    await expect(row.getByTestId("project")).toHaveText("shared");
    await expect(row.getByTestId("free")).toHaveText("253");
    await expect(row.getByRole("button", { name: /Delete network/ })).toHaveCount(0);
    const lan = (await (await request.get("/api/v1/networks?q=e2e-lan")).json()).items[0];

    // Shared networks are the admins': no projectId is refused, and so is changing the admin's one.
    const shared = await request.post("/api/v1/networks", {
      data: { name: "op-net", vlanId: 3997, cidr: "10.239.97.0/24", gateway: "10.239.97.1" },
    });
    expect(shared.status()).toBe(403);
    expect((await shared.json()).error.message).toContain("Only admins");
    expect((await request.patch(`/api/v1/networks/${lan.id}`, { data: { name: "mine" } })).status()).toBe(403);
    expect((await request.delete(`/api/v1/networks/${lan.id}`)).status()).toBe(403);

    // A network of the operator's own project, created in the form (the project is preselected).
    const project = (await (await request.get("/api/v1/projects")).json()).items[0];
    const form = page.getByRole("form", { name: "Create network" });
    await expect(form.getByLabel("Project")).toHaveValue(project.id);
    await expect(form.getByLabel("Project").locator("option", { hasText: "Shared" })).toHaveCount(0);
    await form.getByLabel("Name").fill("e2e-op-net");
    await form.getByLabel("VLAN").fill("3996");
    await form.getByLabel("CIDR").fill("10.239.96.0/24");
    await form.getByLabel("Gateway").fill("10.239.96.1");
    await form.getByRole("button", { name: "Create network" }).click();
    await expect(page.getByRole("status")).toHaveText("Created network e2e-op-net.");
    const mine = page.getByTestId("network-e2e-op-net");
    await expect(mine.getByTestId("project")).toHaveText(project.name);
    page.once("dialog", (d) => void d.accept());
    await mine.getByRole("button", { name: "Delete network e2e-op-net" }).click();
    await expect(page.getByRole("status")).toHaveText("Deleted network e2e-op-net.");
    await expect(page.getByTestId("network-e2e-op-net")).toHaveCount(0);
  });
});
