import { test, expect, type APIRequestContext, type Page } from "@playwright/test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { adminApi, startMixedFleet, waitForFleetOnline, type Fleet } from "./console-helpers";
import { storageStateFor } from "./helpers";
import { SerialShell } from "./serial-shell";

// Snapshots and capture to image on the real mixed fleet (issue 13), through the controller's API
// and the guests' serial consoles:
// 1. an aarch64 busybox-demo VM (kernel boot; its blank disk is /dev/vda): snapshot → a marker
//    written to /dev/vda (dd + sync, read back) → revert → the marker is gone; the snapshot's disk
//    claim shows on the host and goes with the snapshot; a memory snapshot brings the guest back to
//    where it was (a shell variable set before it); the VM page's Snapshots panel takes and deletes one.
// 2. capture: an aarch64 disk-boot VM (the UEFI fixture disk, uploaded as qcow2) gets a file written
//    into its FAT partition, is stopped and captured; the new image is ready, aarch64, qcow2; a new VM
//    from it boots (firmware → GRUB → kernel → the fixture's boot marker) and has that file: it booted
//    from the captured disk, not from the fixture.
let fleet: Fleet;
let admin: APIRequestContext;
const ARCH = "aarch64";
const PREFIX = "e2e-snap-";
const RUN = Date.now().toString(36);
const vmIds: string[] = [];
let revertVm = "";
const imageIds: string[] = [];
const shells: SerialShell[] = [];

test.describe.configure({ mode: "serial" });
test.setTimeout(900_000);

type Vm = { id: string; status: string; lastError: string | null; host: { id: string; name: string } | null };

async function createVm(body: Record<string, unknown>): Promise<string> {
  const res = await admin.post("/api/v1/vms", {
    data: { arch: ARCH, vcpus: 1, diskGb: 1, allowEmulation: true, ...body },
  });
  expect(res.status(), await res.text()).toBe(202);
  const id = (await res.json()).vm.id as string;
  vmIds.push(id);
  return id;
}

async function waitStatus(id: string, want: RegExp, ms: number): Promise<Vm> {
  let vm: Vm = { id, status: "", lastError: null, host: null };
  await expect
    .poll(
      async () => {
        vm = await (await admin.get(`/api/v1/vms/${id}`)).json();
        return vm.status;
      },
      { timeout: ms, message: `VM ${id} to reach ${want}` },
    )
    .toMatch(want);
  return vm;
}

async function shell(vmId: string): Promise<SerialShell> {
  const s = await SerialShell.open(admin, vmId);
  shells.push(s);
  return s;
}

const hostDiskUsed = async (hostId: string) =>
  ((await (await admin.get(`/api/v1/hosts/${hostId}`)).json()).capacity as { diskUsedGb: number }).diskUsedGb;

async function deleteLeftovers() {
  // A crashed earlier run may have left its VMs and images: remove them so names and families are free.
  const found = (await (await admin.get(`/api/v1/vms?pageSize=200&q=${PREFIX}`)).json()).items as Vm[];
  const vms = (found as (Vm & { name: string })[]).filter((v) => v.name.startsWith(PREFIX));
  for (const vm of vms) await admin.delete(`/api/v1/vms/${vm.id}`);
  for (const vm of vms)
    await expect.poll(async () => (await admin.get(`/api/v1/vms/${vm.id}`)).status(), { timeout: 120_000 }).toBe(404);
  const images = (await (await admin.get(`/api/v1/images?pageSize=200&q=${PREFIX}`)).json()).items as {
    id: string;
    name: string;
  }[];
  for (const i of images.filter((x) => x.name.startsWith(PREFIX))) await admin.delete(`/api/v1/images/${i.id}`);
}

test.beforeAll(async () => {
  test.setTimeout(300_000);
  fleet = await startMixedFleet();
  admin = await adminApi();
  await waitForFleetOnline(admin, fleet);
  await deleteLeftovers();
});

test.afterAll(async () => {
  // The fleet (agents, QEMU, OVS) must stop whatever happened before: deletions first, bounded.
  test.setTimeout(300_000);
  try {
    for (const sh of shells) sh.close();
    if (admin) {
      // A VM briefly shown as "creating" (a late heartbeat) refuses deletion: ask again until it is gone.
      for (const id of vmIds)
        await expect
          .poll(async () => (await admin.delete(`/api/v1/vms/${id}`)).status(), { timeout: 60_000 })
          .toBe(404)
          .catch((e: unknown) => console.log(`[snap] VM ${id} not deleted: ${String(e)}`));
      for (const id of imageIds) await admin.delete(`/api/v1/images/${id}`).catch(() => {});
    }
  } finally {
    await fleet?.stop();
    await admin?.dispose();
  }
});

test("snapshot → marker written to the guest's disk → revert → the marker is gone (aarch64)", async () => {
  const t0 = Date.now();
  const ms = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
  const image = (
    (await (await admin.get(`/api/v1/images?arch=${ARCH}&q=busybox-demo`)).json()).items as { id: string }[]
  )[0];
  expect(image, `no ${ARCH} busybox-demo image registered`).toBeTruthy();
  const id = await createVm({ name: `${PREFIX}revert`, imageId: image!.id, memoryMb: 256 });
  revertVm = id;
  const vm = await waitStatus(id, /^(running|error)$/, 180_000);
  expect(vm.status, vm.lastError ?? "").toBe("running");
  let guest = await shell(id);
  await guest.waitFor(/POLYARCH-BOOT-OK arch=aarch64/, 0, 180_000, "the guest booted");
  await guest.shellReady("S");
  // What the guest reads of the first sector, as printable text (the command itself names no marker).
  const firstSector = async (tag: string) =>
    (await guest.run("dd if=/dev/vda bs=512 count=1 2>/dev/null | tr -c 'A-Za-z0-9=-' '.'; echo", tag)).out;
  const marker = `SNAPMARK-${RUN}`;
  expect(await firstSector("R0")).not.toContain(marker);
  console.log(`[snap] guest ready after ${ms()}`);

  const usedBefore = await hostDiskUsed(vm.host!.id);
  const made = await admin.post(`/api/v1/vms/${id}/snapshots`, { data: { name: "clean" } });
  expect(made.status(), await made.text()).toBe(201);
  const snap = (await made.json()) as { id: string; status: string; claimedDiskGb: number; memory: boolean };
  expect(snap).toMatchObject({ status: "ready", memory: false, claimedDiskGb: 1 });
  expect(await hostDiskUsed(vm.host!.id)).toBe(usedBefore + 1);
  console.log(`[snap] disk snapshot of the running VM after ${ms()}`);

  const write = await guest.run(
    `printf '${marker}' | dd of=/dev/vda bs=512 conv=sync count=1 2>/dev/null && sync`,
    "W",
  );
  expect(write.rc, write.out).toBe(0);
  // Read back past the page cache: the block device is re-read after dropping caches.
  await guest.run("echo 3 > /proc/sys/vm/drop_caches", "D");
  expect(await firstSector("R1")).toContain(marker);

  const reverted = await admin.post(`/api/v1/vms/${id}/snapshots/${snap.id}/revert`);
  expect(reverted.status(), await reverted.text()).toBe(200);
  expect(((await reverted.json()) as Vm).status).toBe("running");
  console.log(`[snap] reverted after ${ms()}`);
  // A disk-only revert of a running VM restarts it: a new console on the new boot.
  guest.close();
  guest = await shell(id);
  await guest.waitFor(/POLYARCH-BOOT-OK arch=aarch64/, 0, 180_000, "the guest booted again after the revert");
  await guest.shellReady("T");
  const after = await firstSector("R2");
  expect(after).not.toContain(marker);
  console.log(`[snap] marker gone after the revert (${ms()})`);

  const tasks = (await (await admin.get(`/api/v1/vms/${id}/tasks`)).json()).items as {
    kind: string;
    status: string;
    steps: { name: string; status: string }[];
  }[];
  expect(tasks.find((t) => t.kind === "vm.snapshot.revert")).toMatchObject({
    status: "succeeded",
    steps: [{ name: "revert", status: "succeeded" }],
  });
  const del = await admin.delete(`/api/v1/vms/${id}/snapshots/${snap.id}`);
  expect(del.status(), await del.text()).toBe(200);
  expect(await hostDiskUsed(vm.host!.id)).toBe(usedBefore);
  const list = await (await admin.get(`/api/v1/vms/${id}/snapshots`)).json();
  expect(list.items).toEqual([]);
});

test("capture: a stopped aarch64 disk-boot VM becomes an aarch64 image, and a VM from it boots its disk", async () => {
  const t0 = Date.now();
  const ms = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
  const up = await admin.post("/api/v1/images", {
    multipart: {
      name: `${PREFIX}source-${RUN}`,
      format: "qcow2",
      arch: ARCH,
      file: {
        name: "disk.qcow2",
        mimeType: "application/octet-stream",
        buffer: readFileSync(resolve(".cache/fixtures", ARCH, "disk.qcow2")),
      },
    },
    timeout: 120_000,
  });
  expect(up.status(), await up.text()).toBe(201);
  const source = await up.json();
  imageIds.push(source.id);
  expect(source).toMatchObject({ status: "ready", arch: ARCH, firmware: "uefi" });

  const src = await createVm({ name: `${PREFIX}src`, imageId: source.id, memoryMb: 512 });
  const srcVm = await waitStatus(src, /^(running|error)$/, 240_000);
  expect(srcVm.status, srcVm.lastError ?? "").toBe("running");
  const guest = await shell(src);
  await guest.waitFor(/POLYARCH-BOOT-OK arch=aarch64/, 0, 300_000, "the disk-boot guest booted");
  await guest.shellReady("C");
  console.log(`[capture] source VM booted from its disk after ${ms()}`);
  const stamp = `CAPTURED-${RUN}`;
  const wrote = await guest.run(
    `mkdir -p /mnt && mount -t vfat /dev/vda1 /mnt && echo ${stamp} > /mnt/captured.txt && umount /mnt && sync`,
    "M",
  );
  expect(wrote.rc, wrote.out).toBe(0);

  // A running VM is captured only from a snapshot.
  const refused = await admin.post(`/api/v1/vms/${src}/capture`, { data: { name: `${PREFIX}nope` } });
  expect(refused.status()).toBe(409);
  expect((await refused.json()).error.message).toMatch(/stop the VM first/);

  const stop = await admin.post(`/api/v1/vms/${src}/actions`, { data: { action: "stop" }, timeout: 180_000 });
  expect(stop.status(), await stop.text()).toBe(200);
  await waitStatus(src, /^stopped$/, 180_000);
  guest.close();

  const cap = await admin.post(`/api/v1/vms/${src}/capture`, {
    data: { name: `${PREFIX}captured-${RUN}`, family: `${PREFIX}family-${RUN}` },
    timeout: 600_000,
  });
  expect(cap.status(), await cap.text()).toBe(201);
  const captured = await cap.json();
  imageIds.push(captured.id);
  expect(captured).toMatchObject({ status: "ready", arch: ARCH, format: "qcow2", visibility: "project" });
  console.log(`[capture] image ${captured.id} (${captured.sizeBytes} bytes, ${captured.firmware}) after ${ms()}`);

  const copy = await createVm({ name: `${PREFIX}copy`, imageId: captured.id, memoryMb: 512 });
  const copyVm = await waitStatus(copy, /^(running|error)$/, 240_000);
  expect(copyVm.status, copyVm.lastError ?? "").toBe("running");
  const booted = await shell(copy);
  await booted.waitFor(/POLYARCH-BOOT-OK arch=aarch64/, 0, 300_000, "the VM from the captured image booted");
  await booted.shellReady("K");
  const read = await booted.run("mkdir -p /mnt && mount -t vfat /dev/vda1 /mnt && cat /mnt/captured.txt", "K1");
  expect(read.rc, read.out).toBe(0);
  expect(read.out).toContain(stamp);
  console.log(`[capture] the VM from the captured image booted and holds ${stamp} (${ms()})`);
});

test("a memory snapshot of the running aarch64 VM: after revert the guest is where it was", async () => {
  expect(revertVm, "the VM of the first test was not created").toBeTruthy();
  const t0 = Date.now();
  const ms = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
  let guest = await shell(revertVm);
  await guest.shellReady("U");
  expect((await guest.run("export SNAPVAR=before-snapshot", "V1")).rc).toBe(0);
  const made = await admin.post(`/api/v1/vms/${revertVm}/snapshots`, {
    data: { name: "warm", memory: true },
    timeout: 600_000,
  });
  expect(made.status(), await made.text()).toBe(201);
  const snap = (await made.json()) as { id: string; memory: boolean; claimedDiskGb: number; vmStateBytes: number };
  // 256 MiB of RAM rounds up to 1 GiB on top of the disk share (1 GiB).
  expect(snap).toMatchObject({ memory: true, claimedDiskGb: 2 });
  expect(snap.vmStateBytes).toBeGreaterThan(0);
  console.log(`[snap] memory snapshot (${snap.vmStateBytes} bytes of guest state) after ${ms()}`);
  expect((await guest.run("export SNAPVAR=after-snapshot", "V2")).rc).toBe(0);
  const reverted = await admin.post(`/api/v1/vms/${revertVm}/snapshots/${snap.id}/revert`, { timeout: 600_000 });
  expect(reverted.status(), await reverted.text()).toBe(200);
  expect(((await reverted.json()) as Vm).status).toBe("running");
  console.log(`[snap] memory revert after ${ms()}`);
  guest.close();
  guest = await shell(revertVm);
  await guest.shellReady("W");
  const v = await guest.run('echo "SNAPVAR is <$SNAPVAR>"', "V3");
  expect(v.out).toContain("SNAPVAR is <before-snapshot>");
  const del = await admin.delete(`/api/v1/vms/${revertVm}/snapshots/${snap.id}`);
  expect(del.status(), await del.text()).toBe(200);
});

test("the VM page's Snapshots panel takes a snapshot and deletes it", async ({ browser }) => {
  expect(revertVm, "the VM of the first test was not created").toBeTruthy();
  const context = await browser.newContext({ storageState: storageStateFor("admin") });
  const page: Page = await context.newPage();
  try {
    await page.goto(`/vms/${revertVm}`);
    const panel = page.getByTestId("vm-snapshots");
    await expect(panel.getByRole("heading", { name: "Snapshots" })).toBeVisible();
    await expect(panel.getByText("No snapshots yet.")).toBeVisible();
    // The VM runs, so memory may be included.
    await expect(panel.getByLabel("include memory")).toBeVisible();
    await panel.getByLabel("Snapshot name").fill("from-the-page");
    await panel.getByRole("button", { name: "Take snapshot" }).click();
    const row = panel.locator('[data-testid="snapshot-row"][data-name="from-the-page"]');
    await expect(row).toContainText("disk only", { timeout: 120_000 });
    await expect(row).toContainText("ready");
    page.once("dialog", (d) => void d.accept());
    await row.getByRole("button", { name: "Delete" }).click();
    await expect(row).toHaveCount(0, { timeout: 60_000 });
    await expect(panel.getByText("No snapshots yet.")).toBeVisible();
    const list = await (await admin.get(`/api/v1/vms/${revertVm}/snapshots`)).json();
    expect(list.items).toEqual([]);
  } finally {
    await context.close();
  }
});
