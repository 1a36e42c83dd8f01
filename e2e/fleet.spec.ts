import { test, expect, request as pwRequest, type APIRequestContext, type Page } from "@playwright/test";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { baseURL } from "../playwright.config";
import { adminApi, FLEET_JOIN_TOKEN, startMixedFleet, type Fleet } from "./console-helpers";
import { SerialShell } from "./serial-shell";
import { storageStateFor } from "./helpers";
import { E2E_DATA_DIR } from "./paths";

// The real mixed fleet: an x86_64 agent on this machine's Node and an aarch64 agent running on
// arm64 Node under qemu-user, each with its own userspace OVS, driving real QEMU (TCG).
let fleet: Fleet;
let admin: APIRequestContext;

test.describe.configure({ mode: "serial" });
test.setTimeout(300_000);

function qemuProcessesFor(vmId: string): string[] {
  try {
    return execFileSync("pgrep", ["-a", "-f", `qemu-system-.*${vmId}`], { encoding: "utf8" })
      .trim()
      .split("\n")
      .filter(Boolean);
  } catch {
    return [];
  }
}

async function hostsByArch(api: APIRequestContext) {
  const res = await api.get("/api/v1/hosts?pageSize=200&status=online&q=");
  const body = await res.json();
  return body.items as {
    id: string;
    name: string;
    arch: string;
    status: string;
    nativeArches: string[];
    kvm: boolean;
    emulatedArches: string[];
  }[];
}

test.beforeAll(async () => {
  fleet = await startMixedFleet();
  admin = await adminApi();
  await expect
    .poll(
      async () =>
        (await hostsByArch(admin))
          .filter((h) => !h.name.startsWith("seed-"))
          .map((h) => h.arch)
          .sort(),
      { timeout: 90_000 },
    )
    .toEqual(["aarch64", "x86_64"]);
});

test.afterAll(async () => {
  await fleet?.stop();
  await admin?.dispose();
});

test("the hosts page shows both agents online with their architecture and capabilities", async ({ browser }) => {
  const ctx = await browser.newContext({ storageState: storageStateFor("viewer") });
  const page = await ctx.newPage();
  await page.goto("/hosts?status=online");
  for (const arch of ["x86_64", "aarch64"]) {
    const row = page
      .getByTestId("row")
      .filter({ has: page.getByTestId("arch-badge").getByText(arch, { exact: true }) })
      .filter({ hasNotText: "seed-" })
      .first();
    await expect(row).toContainText("online");
    await expect(row).toContainText(`native: ${arch}`);
    await expect(row).not.toContainText("pending approval"); // bootstrap token + POLYARCH_AUTO_APPROVE_HOSTS (e2e)
  }
  await ctx.close();
  // The join token is never on an agent's command line (ps shows argv to every user; ADR 025).
  for (const a of fleet.agents) {
    const argv = readFileSync(`/proc/${a.pid}/cmdline`, "utf8").split("\0");
    expect(argv).toContain("--join-token-file");
    expect(argv.join(" ")).not.toContain(FLEET_JOIN_TOKEN);
  }
});

test("the host page charts the CPU and memory samples the agent sends with its heartbeats", async ({ browser }) => {
  const host = (await hostsByArch(admin)).find((h) => h.arch === "x86_64" && !h.name.startsWith("seed-"))!;
  const ctx = await browser.newContext({ storageState: storageStateFor("viewer") });
  const page = await ctx.newPage();
  await page.goto(`/hosts/${host.id}`);
  const panel = page.getByTestId("metrics-panel");
  await expect(panel.getByTestId("metrics-chart-cpu").locator("svg path")).not.toHaveCount(0, { timeout: 30_000 });
  await expect(panel.getByTestId("metrics-chart-memory").getByTestId("metrics-latest")).toContainText(
    /\d+(\.\d)? (MiB|GiB)/,
  );
  // A seeded host without an agent has no samples: the empty state says why.
  const seeded = (await (await admin.get("/api/v1/hosts?pageSize=200&q=seed-")).json()).items[0] as
    { id: string } | undefined;
  if (seeded) {
    await page.goto(`/hosts/${seeded.id}`);
    await expect(page.getByTestId("metrics-empty")).toContainText("no samples yet", { ignoreCase: true });
  }
  await ctx.close();
});

const WIZARD_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHbEv4XGmS8lyE3FsYiF5yv3t8u3oXPBq6n4Jm8Fq2dX wizard@e2e";

async function createInWizard(page: Page, arch: "x86_64" | "aarch64", name: string) {
  await page.goto("/vms/new");
  await page
    .getByText(arch === "aarch64" ? "aarch64 (ARM64)" : "x86_64", { exact: false })
    .first()
    .click();
  await page.getByRole("button", { name: "Next" }).click();
  const options = page.getByTestId("image-options");
  await expect(options.locator("label").first()).toBeVisible();
  // Only images of the chosen architecture are offered.
  for (const badge of await options.getByTestId("arch-badge").allTextContents()) expect(badge).toBe(arch);
  await options.locator("label").filter({ hasText: "busybox-demo" }).first().click();
  await page.getByRole("button", { name: "Next" }).click();
  await page.getByLabel("vCPUs").fill("1");
  await page.getByLabel("Memory (MiB)").fill("256");
  await page.getByLabel("Disk (GiB)").fill("1");
  await page.getByRole("button", { name: "Next" }).click();
  await page.getByRole("button", { name: "Next" }).click();
  // A suggested name from the image and arch (a DNS label), replaced by ours.
  await expect(page.getByLabel("Name", { exact: true })).toHaveValue(
    new RegExp(`^busybox[a-z0-9-]*-${arch === "x86_64" ? "x86" : "arm"}-[a-z0-9]{4}$`),
  );
  await page.getByLabel("Name", { exact: true }).fill(name);
  const preview = page.getByTestId("placement-preview");
  await expect(preview.getByTestId("preview-chosen")).toBeVisible();
  return preview;
}

for (const arch of ["aarch64", "x86_64"] as const) {
  test(`an operator creates an ${arch} VM in the wizard; it runs on the ${arch} host in real QEMU; stop, start and delete work`, async ({
    browser,
  }) => {
    const hosts = await hostsByArch(admin);
    const own = hosts.find((h) => h.arch === arch && !h.name.startsWith("seed-"))!;
    const other = hosts.find((h) => h.arch !== arch && !h.name.startsWith("seed-"))!;
    const ctx = await browser.newContext({ storageState: storageStateFor("operator") });
    const page = await ctx.newPage();
    // A display name in Chinese on one arch (issue 17): the hostname is derived (pinyin), shown before
    // create, and reaches the real guest through the cloud-init seed with the wizard's SSH key.
    const n = Date.now() % 100000;
    const name = arch === "aarch64" ? `数据库-arm-${n}` : `e2e-${arch.replace("_", "")}-${n}`;
    const hostname = arch === "aarch64" ? `shujuku-arm-${n}` : name;
    const preview = await createInWizard(page, arch, name);
    await expect(page.getByTestId("wizard-hostname-hint")).toHaveText(
      `The guest will be called ${hostname} on the network.`,
    );
    await page.getByTestId("wizard-ssh-key").fill(WIZARD_KEY);
    await page.getByTestId("wizard-password").fill("short");
    await expect(page.getByRole("button", { name: "Create VM" })).toBeDisabled();
    await page.getByTestId("wizard-password").fill("a long enough password");
    await expect(preview.getByTestId("preview-chosen")).toContainText(own.name);
    // ADR 003's words: a native guest is never "emulated"; without KVM it runs in software.
    await expect(preview.getByTestId("preview-run-mode")).toHaveText(
      own.kvm ? "How it runs: natively with KVM." : "How it runs: software (TCG) — no KVM on this host.",
    );
    const rejectedOther = preview.getByTestId("preview-rejected").locator("li").filter({ hasText: other.name });
    await expect(rejectedOther).toContainText(other.arch);

    await page.getByRole("button", { name: "Create VM" }).click();
    await expect(page.getByTestId("create-progress")).toBeVisible();
    await page.waitForURL(/\/vms\/[^/]+$/, { timeout: 180_000 });
    await expect(page.getByTestId("vm-status")).toHaveText("running", { timeout: 60_000 });
    await expect(page.getByTestId("vm-host")).toContainText(own.name);
    const vmId = page.url().split("/").pop()!;
    await expect(page.getByTestId("vm-names-name-value")).toHaveText(name);
    await expect(page.getByTestId("vm-names-hostname-value")).toHaveText(hostname);
    // The guest read its seed (the whole serial log, replayed): the derived hostname, set in the guest,
    // and the wizard's key first among the keys.
    const shell = await SerialShell.open(admin, vmId);
    try {
      await shell.waitFor(new RegExp(`POLYARCH-SEED hostname=${hostname}\\s`), 0, 120_000, "the seed's hostname");
      await shell
        .waitFor(/POLYARCH-SEED key=(.*)/, 0, 10_000, "the seed's first key")
        .then((m) => expect(m[1]!.trim()).toBe(WIZARD_KEY));
      await shell.shellReady(`hn${arch.slice(0, 3)}`);
      expect((await shell.run("hostname", "hn")).out).toContain(`\n${hostname}`);
    } finally {
      shell.close();
    }
    // Rename both on the running VM: the display name at once, the hostname through the agent's spec,
    // in the guest after its next start (checked below).
    await page.getByTestId("vm-names-edit").click();
    await page.getByTestId("vm-names-name").fill(`${name}-二`);
    await page.getByTestId("vm-names-hostname").fill(`${hostname}-b`);
    await page.getByTestId("vm-names-save").click();
    await expect(page.getByTestId("vm-names-name-value")).toHaveText(`${name}-二`);
    await expect(page.getByTestId("vm-names-hostname-value")).toHaveText(`${hostname}-b`);
    // The agent samples the guest's QEMU process: the VM page charts it within a few heartbeats.
    await expect(page.getByTestId("metrics-chart-cpu").locator("svg path")).not.toHaveCount(0, { timeout: 45_000 });
    const procs = qemuProcessesFor(vmId);
    expect(procs).toHaveLength(1);
    expect(procs[0]).toContain(`qemu-system-${arch}`);

    page.once("dialog", (d) => d.accept());
    await page.getByRole("button", { name: "Stop" }).click();
    await expect(page.getByTestId("vm-status")).toHaveText("stopped", { timeout: 90_000 });
    await expect.poll(() => qemuProcessesFor(vmId).length, { timeout: 30_000 }).toBe(0);

    await page.getByRole("button", { name: "Start" }).click();
    await expect(page.getByTestId("vm-status")).toHaveText("running", { timeout: 90_000 });
    expect(qemuProcessesFor(vmId)).toHaveLength(1);
    const again = await SerialShell.open(admin, vmId);
    try {
      await again.waitFor(new RegExp(`POLYARCH-SEED hostname=${hostname}-b\\s`), 0, 120_000, "the new hostname");
    } finally {
      again.close();
    }

    page.once("dialog", (d) => d.accept());
    await page.getByRole("button", { name: "Delete" }).click();
    await page.waitForURL(/\/vms$/, { timeout: 90_000 });
    await expect.poll(() => qemuProcessesFor(vmId).length, { timeout: 30_000 }).toBe(0);
    expect((await admin.get(`/api/v1/vms/${vmId}`)).status()).toBe(404);
    await ctx.close();
  });
}

test("with the aarch64 host in maintenance, an aarch64 VM without emulation is refused; with emulation it runs on x86_64, marked emulated", async () => {
  const hosts = await hostsByArch(admin);
  const arm = hosts.find((h) => h.arch === "aarch64" && !h.name.startsWith("seed-"))!;
  const x86 = hosts.find((h) => h.arch === "x86_64" && !h.name.startsWith("seed-"))!;
  const armImage = (await (await admin.get("/api/v1/images?arch=arm64&q=busybox-demo")).json()).items[0];
  // Keep only our two hosts in play: seeded hosts are maintenance/offline or have no agent.
  await admin.patch(`/api/v1/hosts/${arm.id}`, { data: { adminState: "maintenance" } });
  const seeded = (await hostsByArch(admin)).filter((h) => h.name.startsWith("seed-"));
  for (const s of seeded) await admin.patch(`/api/v1/hosts/${s.id}`, { data: { adminState: "disabled" } });
  try {
    const before = (await (await admin.get("/api/v1/vms?pageSize=1")).json()).total;
    const refused = await admin.post("/api/v1/vms", {
      data: { name: "arm-no-emu", arch: "arm64", imageId: armImage.id, vcpus: 1, memoryMb: 256, diskGb: 1 },
    });
    expect(refused.status()).toBe(409);
    const msg = (await refused.json()).error.message as string;
    expect(msg).toContain("aarch64");
    expect(msg).toContain("x86_64");
    expect((await (await admin.get("/api/v1/vms?pageSize=1")).json()).total).toBe(before);

    const accepted = await admin.post("/api/v1/vms", {
      data: {
        name: "arm-emu",
        arch: "aarch64",
        imageId: armImage.id,
        vcpus: 1,
        memoryMb: 256,
        diskGb: 1,
        allowEmulation: true,
      },
    });
    expect(accepted.status()).toBe(202);
    const { vm, host } = await accepted.json();
    expect(host.id).toBe(x86.id);
    expect(vm.emulated).toBe(true);
    await expect
      .poll(async () => (await (await admin.get(`/api/v1/vms/${vm.id}`)).json()).status, { timeout: 120_000 })
      .toBe("running");
    expect(qemuProcessesFor(vm.id)[0]).toContain("qemu-system-aarch64");
    expect((await admin.delete(`/api/v1/vms/${vm.id}`)).status()).toBe(200);
  } finally {
    await admin.patch(`/api/v1/hosts/${arm.id}`, { data: { adminState: "enabled" } });
  }
});

test("kernel images uploaded through the API are detected as their arch and boot on the mixed fleet", async () => {
  const operator = await pwRequest.newContext({ baseURL, storageState: storageStateFor("operator") });
  try {
    for (const arch of ["aarch64", "x86_64"] as const) {
      const dir = resolve(".cache/fixtures", arch);
      const up = await operator.post("/api/v1/images", {
        multipart: {
          name: `uploaded-${arch}`,
          format: "kernel",
          family: "uploaded-busybox",
          cmdline: arch === "aarch64" ? "console=ttyAMA0 panic=-1" : "console=ttyS0 panic=-1",
          kernel: {
            name: "vmlinuz",
            mimeType: "application/octet-stream",
            buffer: readFileSync(resolve(dir, "vmlinuz")),
          },
          initrd: {
            name: "initrd.img",
            mimeType: "application/octet-stream",
            buffer: readFileSync(resolve(dir, "initrd.img")),
          },
        },
        timeout: 120_000,
      });
      expect(up.status(), await up.text()).toBe(201);
      const image = await up.json();
      expect(image.arch ?? image.image?.arch).toBe(arch);

      // Created by family name: it resolves to this arch's build.
      const res = await operator.post("/api/v1/vms", {
        data: {
          name: `from-upload-${arch.replace("_", "")}`,
          arch,
          family: "uploaded-busybox",
          vcpus: 1,
          memoryMb: 256,
          diskGb: 1,
        },
      });
      expect(res.status(), await res.text()).toBe(202);
      const { vm, host } = await res.json();
      await expect
        .poll(async () => (await (await operator.get(`/api/v1/vms/${vm.id}`)).json()).status, { timeout: 180_000 })
        .toBe("running");
      const agentArch = (await hostsByArch(admin)).find((h) => h.id === host.id)!.arch;
      const serialLog = resolve(E2E_DATA_DIR, "fleet", agentArch, "state/vms", vm.id, "serial.log");
      await expect
        .poll(() => (existsSync(serialLog) ? readFileSync(serialLog, "utf8") : ""), { timeout: 120_000 })
        .toContain(`POLYARCH-BOOT-OK arch=${arch}`);
      expect((await operator.delete(`/api/v1/vms/${vm.id}`)).status()).toBe(200);
    }
  } finally {
    await operator.dispose();
  }
});

// Last in this file: it kills the x86_64 agent for good (fleet.stop() cleans up).
test("an agent that is down mid-create leaves the VM in error with the reason and its reservation released; retry places it elsewhere", async () => {
  const x86Agent = fleet.agents.find((a) => a.arch === "x86_64")!;
  const x86 = (await hostsByArch(admin)).find((h) => h.arch === "x86_64" && !h.name.startsWith("seed-"))!;
  const image = (await (await admin.get("/api/v1/images?arch=x86_64&q=busybox-demo")).json()).items[0];
  const hostBefore = await (await admin.get(`/api/v1/hosts/${x86.id}`)).json();
  process.kill(x86Agent.pid, "SIGKILL");
  // The host still looks online until its heartbeats are missed: the create goes there and fails.
  const res = await admin.post("/api/v1/vms", {
    data: {
      name: "doomed",
      arch: "x86_64",
      imageId: image.id,
      vcpus: 1,
      memoryMb: 256,
      diskGb: 1,
      allowEmulation: true,
    },
  });
  expect(res.status()).toBe(202);
  const { vm, host } = await res.json();
  expect(host.id).toBe(x86.id);
  await expect
    .poll(async () => (await (await admin.get(`/api/v1/vms/${vm.id}`)).json()).status, { timeout: 60_000 })
    .toBe("error");
  const failed = await (await admin.get(`/api/v1/vms/${vm.id}`)).json();
  expect(failed.lastError).toMatch(/not reachable|did not answer/);
  expect(failed.host).toBeNull();
  const hostAfter = await (await admin.get(`/api/v1/hosts/${x86.id}`)).json();
  expect(hostAfter.capacity.vcpuUsed).toBe(hostBefore.capacity.vcpuUsed);
  const tasks = (await (await admin.get(`/api/v1/vms/${vm.id}/tasks`)).json()).items;
  expect(tasks[0].status).toBe("failed");

  // Missed heartbeats take the host offline; a retry then lands on the aarch64 host (emulated).
  await expect
    .poll(async () => (await (await admin.get(`/api/v1/hosts/${x86.id}`)).json()).status, { timeout: 60_000 })
    .toBe("offline");
  const retry = await admin.post(`/api/v1/vms/${vm.id}/actions`, { data: { action: "retry" } });
  expect(retry.status()).toBe(200);
  await expect
    .poll(async () => (await (await admin.get(`/api/v1/vms/${vm.id}`)).json()).status, { timeout: 180_000 })
    .toBe("running");
  const placed = await (await admin.get(`/api/v1/vms/${vm.id}`)).json();
  expect(placed.host.arch).toBe("aarch64");
  expect(placed.emulated).toBe(true);
  expect((await admin.delete(`/api/v1/vms/${vm.id}`)).status()).toBe(200);
});
