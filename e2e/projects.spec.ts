import { test, expect, type Page } from "@playwright/test";
import Database from "better-sqlite3";
import { E2E_DB } from "./seed";
import { signIn, storageStateFor } from "./helpers";

// Per-VM rights via projects (issue #6): an admin creates a project and puts a new operator only
// in it; the operator then sees only that project's VMs and is refused (404, like a VM that does
// not exist) the page, the API and the console ticket of a VM in another project.
//
// VMs are written straight into the e2e database (as e2e/seed.ts does): placement needs a fleet,
// which this test does not; what is tested here is who may see and touch which VM.

const stamp = Date.now().toString(36);
const PROJECT = `lab-${stamp}`;
const OP = { email: `lab-op-${stamp}@e2e.test`, password: "lab-operator-pass-1" };
const OTHER_VM = `e2e-default-${stamp}`; // in the default project
const LAB_VM = `e2e-lab-${stamp}`;

function insertVm(id: string, name: string, projectId: string) {
  const db = new Database(E2E_DB, { timeout: 10_000 });
  try {
    const ts = new Date().toISOString().replace("Z", "+00:00");
    db.prepare(
      `INSERT INTO "Vm" (id, name, arch, vcpus, memoryMb, diskGb, status, powerState, projectId, createdAt, updatedAt) VALUES (?,?,?,?,?,?,?,?,?,?,?)`,
    ).run(id, name, "aarch64", 1, 256, 1, "stopped", "shutoff", projectId, ts, ts);
  } finally {
    db.close();
  }
}

function deleteVms(ids: string[]) {
  const db = new Database(E2E_DB, { timeout: 10_000 });
  try {
    for (const id of ids) db.prepare(`DELETE FROM "Vm" WHERE id = ?`).run(id);
  } finally {
    db.close();
  }
}

async function projectCard(page: Page, name: string) {
  const card = page.getByTestId(`project-${name}`);
  await expect(card).toBeVisible();
  return card;
}

test("a user only in project B is refused the page, the API and the console ticket of a VM in project A; members and admins are not", async ({
  browser,
}) => {
  const otherVmId = `e2e-vm-default-${stamp}`;
  const labVmId = `e2e-vm-lab-${stamp}`;
  const adminCtx = await browser.newContext({ storageState: storageStateFor("admin") });
  const admin = await adminCtx.newPage();
  try {
    // 1. The admin creates the operator (new users join the default project) …
    await admin.goto("/users");
    const userForm = admin.getByRole("form", { name: "Create user" });
    await userForm.getByLabel("Email").fill(OP.email);
    await userForm.getByLabel("Name").fill("Lab operator");
    await userForm.getByLabel("Role").selectOption("operator");
    await userForm.getByLabel("Initial password").fill(OP.password);
    await userForm.getByRole("button", { name: "Create user" }).click();
    await expect(admin.getByTestId(`user-${OP.email}`)).toBeVisible();

    // 2. … creates a project on the Projects page, adds the operator to it and takes them out of default.
    await admin.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Projects" }).click();
    await expect(admin).toHaveURL(/\/projects$/);
    const createForm = admin.getByRole("form", { name: "Create project" });
    await createForm.getByLabel("Name").fill(PROJECT);
    await createForm.getByLabel("Description").fill("e2e: only the lab operator");
    await createForm.getByRole("button", { name: "Create project" }).click();
    await expect(admin.getByRole("status")).toContainText(`Created project ${PROJECT}`);
    const lab = await projectCard(admin, PROJECT);
    await lab.getByLabel(`User to add to ${PROJECT}`).selectOption({ label: `${OP.email} (operator)` });
    await lab.getByRole("button", { name: "Add member" }).click();
    await expect(lab.getByTestId(`member-${OP.email}`)).toBeVisible();
    const def = await projectCard(admin, "default");
    await expect(def.getByTestId(`member-${OP.email}`)).toBeVisible();
    await def.getByRole("button", { name: `Remove ${OP.email} from default` }).click();
    await expect(def.getByTestId(`member-${OP.email}`)).toHaveCount(0);

    const projects = (await (await admin.request.get("/api/v1/projects")).json()).items as {
      id: string;
      name: string;
      members: { email: string }[];
    }[];
    const labProject = projects.find((p) => p.name === PROJECT)!;
    expect(labProject.members.map((m) => m.email)).toEqual([OP.email]);
    expect(projects.find((p) => p.name === "default")!.members.map((m) => m.email)).not.toContain(OP.email);

    // 3. One VM in the default project (project A), one in the lab project (project B).
    insertVm(otherVmId, OTHER_VM, "default");
    insertVm(labVmId, LAB_VM, labProject.id);

    // 4. The operator signs in.
    const opCtx = await browser.newContext();
    const op = await opCtx.newPage();
    try {
      await signIn(op, OP.email, OP.password);

      // The VM page of the other project's VM is "not found", exactly like a VM that does not exist.
      const pageRes = await op.goto(`/vms/${otherVmId}`);
      expect(pageRes?.status()).toBe(404);
      await expect(op.getByRole("heading", { name: "Not found" })).toBeVisible();
      expect((await op.goto(`/vms/no-such-vm-${stamp}`))?.status()).toBe(404);

      // The API and the console ticket answer 404 too, and nothing is changed.
      const ticket = await op.request.post(`/api/v1/vms/${otherVmId}/console-ticket`, { data: { write: true } });
      expect(ticket.status()).toBe(404);
      expect((await ticket.json()).error.code).toBe("not_found");
      const readOnlyTicket = await op.request.post(`/api/v1/vms/${otherVmId}/console-ticket`, {
        data: { write: false },
      });
      expect(readOnlyTicket.status()).toBe(404);
      expect((await op.request.get(`/api/v1/vms/${otherVmId}`)).status()).toBe(404);
      expect((await op.request.get(`/api/v1/vms/${otherVmId}/tasks`)).status()).toBe(404);
      expect((await op.request.get(`/api/v1/vms/${otherVmId}/events`)).status()).toBe(404);
      expect((await op.request.post(`/api/v1/vms/${otherVmId}/actions`, { data: { action: "start" } })).status()).toBe(
        404,
      );
      expect((await op.request.delete(`/api/v1/vms/${otherVmId}`)).status()).toBe(404);
      // Nor can they create a VM in a project they are not in (refused before anything else is looked at).
      const sneaky = await op.request.post("/api/v1/vms", {
        data: {
          name: `sneaky-${stamp}`,
          arch: "aarch64",
          imageId: "whatever",
          vcpus: 1,
          memoryMb: 256,
          diskGb: 1,
          projectId: "default",
        },
      });
      expect(sneaky.status()).toBe(404);
      const still = await admin.request.get(`/api/v1/vms/${otherVmId}`);
      expect(still.status()).toBe(200);
      expect(await still.json()).toMatchObject({ status: "stopped", project: { id: "default" } });

      // Their list has only their project's VM (of all the VMs in the console) …
      const list = await (await op.request.get("/api/v1/vms?pageSize=100")).json();
      expect(list.items.map((v: { name: string }) => v.name)).toEqual([LAB_VM]);
      expect(list.total).toBe(1);
      await op.goto("/vms");
      await expect(op.getByRole("link", { name: LAB_VM })).toBeVisible();
      await expect(op.getByTestId("vm-project")).toHaveText([PROJECT]);
      await expect(op.getByRole("link", { name: OTHER_VM })).toHaveCount(0);

      // … whose page they may open (with its project), and whose console ticket gets past the
      // project check: the VM is not on a host, so 409 — not 404.
      const own = await op.goto(`/vms/${labVmId}`);
      expect(own?.status()).toBe(200);
      await expect(op.getByTestId("vm-project")).toHaveText(PROJECT);
      const ownTicket = await op.request.post(`/api/v1/vms/${labVmId}/console-ticket`, { data: { write: true } });
      expect(ownTicket.status()).toBe(409);

      // The operator cannot manage projects.
      expect((await op.request.post("/api/v1/projects", { data: { name: `mine-${stamp}` } })).status()).toBe(403);
      expect(
        (await op.request.post(`/api/v1/projects/${labProject.id}/members`, { data: { email: OP.email } })).status(),
      ).toBe(403);
      expect((await op.goto("/projects"))?.status()).toBe(403);
    } finally {
      await opCtx.close();
    }

    // 5. The admin sees both VMs; the refusals are in the audit log, attributed to the operator.
    const all = await (await admin.request.get(`/api/v1/vms?q=${stamp}&sort=name`)).json();
    expect(all.items.map((v: { name: string; project: { name: string } }) => [v.name, v.project.name])).toEqual([
      [OTHER_VM, "default"],
      [LAB_VM, PROJECT],
    ]);
    const audit = await (
      await admin.request.get(`/api/v1/audit?status=denied&q=${encodeURIComponent(OP.email)}&pageSize=100`)
    ).json();
    expect(audit.items.map((i: { action: string }) => i.action)).toEqual(
      expect.arrayContaining([
        "vm.view",
        "vm.console",
        "vm.get",
        "vm.start",
        "vm.delete",
        "vm.create",
        "project.create",
      ]),
    );

    // 6. A project with a VM cannot be deleted; once empty it can.
    await admin.goto("/projects");
    admin.once("dialog", (d) => d.accept());
    await (await projectCard(admin, PROJECT)).getByRole("button", { name: `Delete project ${PROJECT}` }).click();
    await expect(admin.getByRole("alert").filter({ hasText: "still has" })).toContainText(`${PROJECT} still has 1 VM`);
    deleteVms([labVmId]);
    admin.once("dialog", (d) => d.accept());
    await (await projectCard(admin, PROJECT)).getByRole("button", { name: `Delete project ${PROJECT}` }).click();
    await expect(admin.getByRole("status")).toContainText(`Deleted project ${PROJECT}`);
    await expect(admin.getByTestId(`project-${PROJECT}`)).toHaveCount(0);
  } finally {
    deleteVms([otherVmId, labVmId]);
    await adminCtx.close();
  }
});
