import { test, expect, type APIRequestContext } from "@playwright/test";
import Database from "better-sqlite3";
import { E2E_DB } from "./seed";
import { signIn, storageStateFor } from "./helpers";

// Image visibility (issue 12, finding 5): an operator of project A never sees or boots project B's
// private (or project) image — not on the Images page, its detail page, the VM wizard, the API, a
// family, nor through the image→hosts list, which names only VMs of A.
//
// Self-contained: the admin creates two projects and two operators through the API; images, a
// (never online) host, its cache rows and two VMs are written straight into the e2e database, as
// e2e/projects.spec.ts does (booting is refused before placement, so no fleet is needed), and
// removed again at the end.

const stamp = Date.now().toString(36);
const OP_A = { email: `img-opa-${stamp}@e2e.test`, password: "img-operator-a-pass-1" };
const OP_B = { email: `img-opb-${stamp}@e2e.test`, password: "img-operator-b-pass-1" };
const FAMILY = `e2e-secret-${stamp}`;
const ID = {
  privB: `e2e-img-privb-${stamp}`,
  projB: `e2e-img-projb-${stamp}`,
  projA: `e2e-img-proja-${stamp}`,
  pubB: `e2e-img-pubb-${stamp}`,
  host: `e2e-img-host-${stamp}`,
  vmA: `e2e-img-vma-${stamp}`,
  vmB: `e2e-img-vmb-${stamp}`,
};
const NAME = {
  privB: `vis-${stamp}-b-private`,
  projB: `vis-${stamp}-b-project`,
  projA: `vis-${stamp}-a-project`,
  pubB: `vis-${stamp}-b-public`,
};

function withDb<T>(fn: (db: Database.Database) => T): T {
  const db = new Database(E2E_DB, { timeout: 10_000 });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

function seedRows(projectA: string, projectB: string, opA: string, opB: string) {
  withDb((db) => {
    const ts = new Date().toISOString().replace("Z", "+00:00");
    const image = db.prepare(
      `INSERT INTO "Image" (id, name, family, arch, format, status, visibility, projectId, ownerId, sizeBytes, minMemoryMb, createdAt, updatedAt) ` +
        `VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)`,
    );
    image.run(ID.privB, NAME.privB, FAMILY, "x86_64", "kernel", "ready", "private", projectB, opB, 4096, 64, ts, ts);
    image.run(ID.projB, NAME.projB, null, "x86_64", "kernel", "ready", "project", projectB, opB, 4096, 64, ts, ts);
    image.run(ID.projA, NAME.projA, null, "x86_64", "kernel", "ready", "project", projectA, opA, 4096, 64, ts, ts);
    image.run(ID.pubB, NAME.pubB, null, "x86_64", "kernel", "ready", "public", projectB, opB, 4096, 64, ts, ts);
    db.prepare(
      `INSERT INTO "Host" (id, name, arch, status, adminState, cpuCount, memoryMb, diskGb, nativeArches, emulatedArches, createdAt, updatedAt) ` +
        `VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`,
    ).run(
      ID.host,
      `e2e-img-host-${stamp}`,
      "x86_64",
      "offline",
      "maintenance",
      4,
      4096,
      100,
      '["x86_64"]',
      "[]",
      ts,
      ts,
    );
    const cache = db.prepare(
      `INSERT INTO "HostImage" (hostId, imageId, state, sizeBytes, updatedAt) VALUES (?,?,?,?,?)`,
    );
    cache.run(ID.host, ID.pubB, "ready", 4096, ts);
    cache.run(ID.host, ID.privB, "ready", 4096, ts);
    const vm = db.prepare(
      `INSERT INTO "Vm" (id, name, arch, vcpus, memoryMb, diskGb, imageId, hostId, status, powerState, projectId, createdAt, updatedAt) ` +
        `VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)`,
    );
    vm.run(
      ID.vmA,
      `vis-${stamp}-vm-of-a`,
      "x86_64",
      1,
      256,
      1,
      ID.pubB,
      ID.host,
      "stopped",
      "shutoff",
      projectA,
      ts,
      ts,
    );
    vm.run(
      ID.vmB,
      `vis-${stamp}-vm-of-b`,
      "x86_64",
      1,
      256,
      1,
      ID.pubB,
      ID.host,
      "stopped",
      "shutoff",
      projectB,
      ts,
      ts,
    );
  });
}

function removeRows() {
  withDb((db) => {
    db.prepare(`DELETE FROM "Vm" WHERE id IN (?, ?)`).run(ID.vmA, ID.vmB);
    db.prepare(`DELETE FROM "Host" WHERE id = ?`).run(ID.host); // its HostImage rows cascade
    db.prepare(`DELETE FROM "Image" WHERE id IN (?, ?, ?, ?)`).run(ID.privB, ID.projB, ID.projA, ID.pubB);
  });
}

async function created(res: Awaited<ReturnType<APIRequestContext["post"]>>): Promise<{ id: string }> {
  expect(res.status(), await res.text()).toBe(201);
  return (await res.json()) as { id: string };
}

/** An operator in `projectId` only (new users join the default project: taken out again). */
async function operatorIn(admin: APIRequestContext, user: { email: string; password: string }, projectId: string) {
  const { id } = await created(
    await admin.post("/api/v1/users", { data: { ...user, name: user.email, role: "operator" } }),
  );
  expect((await admin.post(`/api/v1/projects/${projectId}/members`, { data: { userId: id } })).status()).toBe(200);
  const out = await admin.delete(`/api/v1/projects/default/members?userId=${id}`);
  expect([200, 404]).toContain(out.status());
  return id;
}

test("an operator of project A never sees or boots project B's private image", async ({ browser }) => {
  const adminCtx = await browser.newContext({ storageState: storageStateFor("admin") });
  const admin = adminCtx.request;
  const opCtx = await browser.newContext();
  const page = await opCtx.newPage();
  try {
    const projectA = (await created(await admin.post("/api/v1/projects", { data: { name: `img-a-${stamp}` } }))).id;
    const projectB = (await created(await admin.post("/api/v1/projects", { data: { name: `img-b-${stamp}` } }))).id;
    const opA = await operatorIn(admin, OP_A, projectA);
    const opB = await operatorIn(admin, OP_B, projectB);
    seedRows(projectA, projectB, opA, opB);

    await signIn(page, OP_A.email, OP_A.password);

    // Images page: A's own project image and B's public one, nothing else of B's.
    await page.goto(`/images?q=vis-${stamp}`);
    const names = page.getByTestId("image-name");
    await expect(names).toHaveCount(2);
    await expect(names).toHaveText([NAME.projA, NAME.pubB].sort());
    // B's public image is visible but not A's to change: no row actions for it.
    const pubRow = page.getByTestId("row").filter({ hasText: NAME.pubB });
    await expect(pubRow.getByRole("button", { name: "Rename" })).toHaveCount(0);

    // Detail pages: B's private and project images do not exist for A; B's public one does.
    for (const id of [ID.privB, ID.projB]) {
      const res = await page.goto(`/images/${id}`);
      expect(res?.status()).toBe(404);
      await expect(page.getByTestId("image-title")).toHaveCount(0);
    }
    await page.goto(`/images/${ID.pubB}`);
    await expect(page.getByTestId("image-title")).toContainText(NAME.pubB);
    // Not A's image: its visibility is shown, not offered for change.
    await expect(page.getByTestId("image-visibility")).toHaveText("public");
    await expect(page.getByRole("form", { name: "Change visibility" })).toHaveCount(0);
    // Image → hosts names only A's VM, though B's VM uses the same image on that host.
    const hostRow = page.getByTestId("image-host-row");
    await expect(hostRow).toHaveCount(1);
    await expect(hostRow).toContainText(`vis-${stamp}-vm-of-a`);
    await expect(hostRow).not.toContainText(`vis-${stamp}-vm-of-b`);

    // The VM wizard offers A's and public images only.
    await page.goto("/vms/new");
    await page.getByText("x86_64", { exact: false }).first().click();
    await page.getByRole("button", { name: "Next" }).click();
    const options = page.getByTestId("image-options");
    await expect(options.locator("label").filter({ hasText: NAME.projA })).toHaveCount(1);
    await expect(options.locator("label").filter({ hasText: NAME.pubB })).toHaveCount(1);
    await expect(options).not.toContainText(NAME.privB);
    await expect(options).not.toContainText(NAME.projB);

    // The API with A's session cookie: 404 exactly like a missing image, for reads, hosts, families and boots.
    const api = page.request;
    for (const id of [ID.privB, ID.projB]) {
      const res = await api.get(`/api/v1/images/${id}`);
      expect(res.status()).toBe(404);
      expect((await res.json()).error.message).toBe(`Image ${id} does not exist.`);
    }
    expect((await api.get(`/api/v1/images/${ID.privB}/hosts`)).status()).toBe(404);
    const hosts = await (await api.get(`/api/v1/images/${ID.pubB}/hosts`)).json();
    expect(hosts.items[0].usedBy.map((v: { name: string }) => v.name)).toEqual([`vis-${stamp}-vm-of-a`]);
    expect((await api.get(`/api/v1/image-families/${FAMILY}`)).status()).toBe(404);
    const families = await (await api.get("/api/v1/image-families")).json();
    expect(families.map((f: { family: string }) => f.family)).not.toContain(FAMILY);
    const listed = await (await api.get(`/api/v1/images?q=vis-${stamp}&pageSize=50`)).json();
    expect(listed.items.map((i: { id: string }) => i.id).sort()).toEqual([ID.projA, ID.pubB].sort());

    const vm = { arch: "x86_64", vcpus: 1, memoryMb: 256, diskGb: 1, projectId: projectA };
    const boot = await api.post("/api/v1/vms", { data: { ...vm, name: `vis-${stamp}-steal`, imageId: ID.privB } });
    expect(boot.status(), await boot.text()).toBe(404);
    expect((await boot.json()).error.message).toBe(`Image ${ID.privB} does not exist.`);
    const byFamily = await api.post("/api/v1/vms", { data: { ...vm, name: `vis-${stamp}-fam`, family: FAMILY } });
    expect(byFamily.status(), await byFamily.text()).toBe(404);
    expect(
      withDb((db) => db.prepare(`SELECT COUNT(*) AS n FROM "Vm" WHERE name LIKE ?`).get(`vis-${stamp}-%`)),
    ).toEqual({
      n: 2,
    });

    // Changing or deleting B's images: B's public one is visible (403, named), the private one is not (404).
    const rename = await api.patch(`/api/v1/images/${ID.pubB}`, { data: { name: "hijacked" } });
    expect(rename.status()).toBe(403);
    expect((await rename.json()).error.message).toContain("Only the owner");
    expect((await api.delete(`/api/v1/images/${ID.privB}`)).status()).toBe(404);

    // A's own image: the owner changes its visibility on the detail page; the server keeps it.
    await page.goto(`/images/${ID.projA}`);
    const change = page.getByRole("form", { name: "Change visibility" });
    await change.getByLabel("Visibility").selectOption("private");
    await change.getByRole("button", { name: "Save" }).click();
    await expect
      .poll(async () => (await (await api.get(`/api/v1/images/${ID.projA}`)).json()).visibility)
      .toBe("private");
    await expect(change.getByRole("button", { name: "Save" })).toBeDisabled();

    // The admin still sees everything.
    const all = await (await admin.get(`/api/v1/images?q=vis-${stamp}&pageSize=50`)).json();
    expect(all.total).toBe(4);
  } finally {
    removeRows();
    await opCtx.close();
    await adminCtx.close();
  }
});
