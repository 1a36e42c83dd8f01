import { test, expect, type APIRequestContext } from "@playwright/test";
import { adminApi, startMixedFleet, waitForFleetOnline, type Fleet } from "./console-helpers";
import { storageStateFor } from "./helpers";
import { SerialShell } from "./serial-shell";

// Data volumes on the real mixed fleet (issue 13): one busybox-demo VM per architecture (256 MiB,
// each on the host of its arch). Through the controller's API only: a volume made for each running
// VM is hot-plugged and appears in the guest (/proc/partitions on the serial console shows vdb);
// data written to it survives detach and re-attach; it grows online and the guest sees the new size;
// the root disk grows online too; a resize beyond the host's room answers 409 with the reason and
// changes nothing. The Volumes page lists both with the host's arch and the attached VM.
let fleet: Fleet;
let admin: APIRequestContext;
const ARCHES = ["aarch64", "x86_64"] as const;
type Arch = (typeof ARCHES)[number];
type Guest = { arch: Arch; vmId?: string; hostId?: string; volumeId?: string; shell?: SerialShell };
const guests: Guest[] = ARCHES.map((arch) => ({ arch }));
const PREFIX = "e2e-vol-";
const GiB_SECTORS = (1024 * 1024 * 1024) / 512;

test.describe.configure({ mode: "serial" });
test.setTimeout(900_000);

async function json<T>(res: Awaited<ReturnType<APIRequestContext["get"]>>, status: number): Promise<T> {
  const text = await res.text();
  expect(res.status(), text).toBe(status);
  return JSON.parse(text) as T;
}

async function cleanup() {
  // Volumes first (detached, then deleted), then the VMs: also what a crashed earlier run left.
  const volumes = (await (await admin.get("/api/v1/volumes")).json()).items as {
    id: string;
    name: string;
    vm: { id: string } | null;
  }[];
  for (const v of volumes.filter((x) => x.name.startsWith(PREFIX))) {
    if (v.vm) await admin.delete(`/api/v1/vms/${v.vm.id}/volumes/${v.id}`).catch(() => {});
    await admin.delete(`/api/v1/volumes/${v.id}`).catch(() => {});
  }
  const vms = (await (await admin.get(`/api/v1/vms?pageSize=200&q=${PREFIX}`)).json()).items as {
    id: string;
    name: string;
  }[];
  for (const vm of vms.filter((v) => v.name.startsWith(PREFIX))) await admin.delete(`/api/v1/vms/${vm.id}`);
  for (const vm of vms.filter((v) => v.name.startsWith(PREFIX)))
    await expect
      .poll(async () => (await admin.get(`/api/v1/vms/${vm.id}`)).status(), { timeout: 120_000 })
      .toBe(404)
      .catch(() => {});
}

/** Polls a guest command until `ok` holds for its output. */
async function guestUntil(g: Guest, cmd: string, ok: (out: string, rc: number) => boolean, what: string, ms = 120_000) {
  const end = Date.now() + ms;
  for (let n = 0; ; n++) {
    const r = await g.shell!.run(cmd, `${g.arch.slice(0, 3)}${what.replace(/\W/g, "")}${n}`);
    if (ok(r.out, r.rc)) return r;
    if (Date.now() > end) throw new Error(`${g.arch}: ${what} did not happen; last output:\n${r.out}`);
    await new Promise((r2) => setTimeout(r2, 2_000));
  }
}

/** Sectors of a guest block device, read as `SZ=<n>` (the command text itself has no digits after `SZ=`). */
const sectors = (out: string) => Number(/SZ=(\d+)/.exec(out)?.[1] ?? "-1");

test.beforeAll(async () => {
  fleet = await startMixedFleet();
  admin = await adminApi();
  await waitForFleetOnline(admin, fleet);
  await cleanup();
});

test.afterAll(async () => {
  for (const g of guests) g.shell?.close();
  if (admin) await cleanup().catch((e) => console.log(`[volumes] cleanup: ${String(e)}`));
  await fleet?.stop();
  await admin?.dispose();
});

test("volumes hot-plug into running aarch64 and x86_64 guests, keep their data across detach/re-attach, grow online", async () => {
  const t0 = Date.now();
  const ms = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
  for (const g of guests) {
    const image = (
      (await (await admin.get(`/api/v1/images?arch=${g.arch}&q=busybox-demo`)).json()).items as { id: string }[]
    )[0];
    expect(image, `no ${g.arch} busybox-demo image registered`).toBeTruthy();
    const created = await json<{ vm: { id: string } }>(
      await admin.post("/api/v1/vms", {
        data: {
          name: `${PREFIX}${g.arch.replace("_", "-")}`,
          arch: g.arch,
          imageId: image!.id,
          vcpus: 1,
          memoryMb: 256,
          diskGb: 1,
          allowEmulation: false,
        },
      }),
      202,
    );
    g.vmId = created.vm.id;
  }
  for (const g of guests) {
    let vm: { status: string; lastError: string | null; host: { id: string; arch: string } | null } = {
      status: "",
      lastError: null,
      host: null,
    };
    await expect
      .poll(
        async () => {
          vm = await (await admin.get(`/api/v1/vms/${g.vmId}`)).json();
          return vm.status;
        },
        { timeout: 240_000, message: `${g.arch} VM running or error` },
      )
      .toMatch(/^(running|error)$/);
    expect(vm.status, `${g.arch}: ${vm.lastError}`).toBe("running");
    expect(vm.host?.arch).toBe(g.arch);
    g.hostId = vm.host!.id;
    g.shell = await SerialShell.open(admin, g.vmId!);
    await g.shell.waitFor(new RegExp(`POLYARCH-BOOT-OK arch=${g.arch}`), 0, 180_000, `${g.arch} booted`);
    await g.shell.shellReady(g.arch.slice(0, 3));
  }
  console.log(`[volumes] both guests up after ${ms()}`);

  for (const g of guests) {
    const tag = g.arch.slice(0, 3);
    // Create-and-attach: made on the VM's host and hot-plugged.
    const vol = await json<{ id: string; status: string; host: { id: string; arch: string }; vm: { id: string } }>(
      await admin.post("/api/v1/volumes", { data: { name: `${PREFIX}${tag}`, sizeGb: 1, vmId: g.vmId } }),
      201,
    );
    g.volumeId = vol.id;
    expect(vol).toMatchObject({ status: "in-use", host: { id: g.hostId, arch: g.arch }, vm: { id: g.vmId } });
    await guestUntil(g, "grep -q vdb /proc/partitions", (_o, rc) => rc === 0, "vdb appears");
    const parts = await g.shell!.run("cat /proc/partitions", `${tag}P`);
    console.log(`[volumes] ${g.arch} /proc/partitions after attach:\n${parts.out.trim()}`);
    expect(sectors((await g.shell!.run("echo SZ=$(cat /sys/block/vdb/size)", `${tag}S1`)).out)).toBe(GiB_SECTORS);

    // Data in, detach (gone from the guest), re-attach (back, with the data).
    const write = await g.shell!.run(`echo "MARK-$((40+2))-${tag}" | dd of=/dev/vdb && sync`, `${tag}W`);
    expect(write.rc, write.out).toBe(0);
    expect(await json(await admin.delete(`/api/v1/vms/${g.vmId}/volumes/${g.volumeId}`), 200)).toMatchObject({
      status: "available",
      vm: null,
    });
    await guestUntil(g, "grep -q vdb /proc/partitions", (_o, rc) => rc !== 0, "vdb disappears");
    expect(
      await json(await admin.post(`/api/v1/vms/${g.vmId}/volumes`, { data: { volumeId: g.volumeId } }), 200),
    ).toMatchObject({ status: "in-use", vm: { id: g.vmId } });
    await guestUntil(g, "grep -q vdb /proc/partitions", (_o, rc) => rc === 0, "vdb is back");
    const read = await g.shell!.run("dd if=/dev/vdb bs=512 count=1 2>/dev/null | tr -d '\\000'", `${tag}R`);
    expect(read.out).toContain(`MARK-42-${tag}`);

    // Grow online: the guest sees 2 GiB.
    expect(await json(await admin.patch(`/api/v1/volumes/${g.volumeId}`, { data: { sizeGb: 2 } }), 200)).toMatchObject({
      sizeGb: 2,
      status: "in-use",
    });
    await guestUntil(
      g,
      "echo SZ=$(cat /sys/block/vdb/size)",
      (out) => sectors(out) === 2 * GiB_SECTORS,
      "vdb grows to 2 GiB",
      60_000,
    );
    // The root disk grows online as well (resize diskGb on a running VM).
    expect(await json(await admin.post(`/api/v1/vms/${g.vmId}/resize`, { data: { diskGb: 2 } }), 200)).toMatchObject({
      diskGb: 2,
      status: "running",
    });
    await guestUntil(
      g,
      "echo SZ=$(cat /sys/block/vda/size)",
      (out) => sectors(out) === 2 * GiB_SECTORS,
      "vda grows to 2 GiB",
      60_000,
    );
    console.log(`[volumes] ${g.arch}: attach, data across detach/re-attach, online grow of vdb and vda after ${ms()}`);
  }

  // Beyond the host's room: 409 with the reason, and nothing changes (VM, host allocation, volume).
  for (const g of guests) {
    const host = await json<{ name: string; capacity: { diskFreeGb: number; diskUsedGb: number } }>(
      await admin.get(`/api/v1/hosts/${g.hostId}`),
      200,
    );
    const before = await json<{ diskGb: number; vcpus: number; memoryMb: number }>(
      await admin.get(`/api/v1/vms/${g.vmId}`),
      200,
    );
    const want = before.diskGb + host.capacity.diskFreeGb + 1;
    const res = await admin.post(`/api/v1/vms/${g.vmId}/resize`, { data: { diskGb: want } });
    const body = await json<{ error: { code: string; message: string } }>(res, 409);
    console.log(`[volumes] ${g.arch} resize to ${want} GiB: ${body.error.message}`);
    expect(body.error.message).toBe(
      `Resizing ${PREFIX}${g.arch.replace("_", "-")} does not fit on host ${host.name}: ` +
        `needs ${host.capacity.diskFreeGb + 1} GiB more disk, ${host.capacity.diskFreeGb} free.`,
    );
    const grow = await admin.patch(`/api/v1/volumes/${g.volumeId}`, {
      data: { sizeGb: 2 + host.capacity.diskFreeGb + 1 },
    });
    expect((await json<{ error: { message: string } }>(grow, 409)).error.message).toMatch(/does not fit on host/);
    const after = await json<{ diskGb: number; vcpus: number; memoryMb: number }>(
      await admin.get(`/api/v1/vms/${g.vmId}`),
      200,
    );
    expect([after.diskGb, after.vcpus, after.memoryMb]).toEqual([before.diskGb, before.vcpus, before.memoryMb]);
    const hostAfter = await json<{ capacity: { diskUsedGb: number } }>(
      await admin.get(`/api/v1/hosts/${g.hostId}`),
      200,
    );
    expect(hostAfter.capacity.diskUsedGb).toBe(host.capacity.diskUsedGb);
    expect((await json<{ sizeGb: number }>(await admin.get(`/api/v1/volumes/${g.volumeId}`), 200)).sizeGb).toBe(2);
    // The guest still has its disks at the sizes they had.
    expect(sectors((await g.shell!.run("echo SZ=$(cat /sys/block/vda/size)", `${g.arch.slice(0, 3)}S9`)).out)).toBe(
      2 * GiB_SECTORS,
    );
  }
  console.log(`[volumes] done after ${ms()}`);
});

test("the Volumes page lists both volumes with their host's arch and VM; delete is refused while attached", async ({
  browser,
}) => {
  const context = await browser.newContext({ storageState: storageStateFor("admin") });
  const page = await context.newPage();
  await page.goto("/volumes");
  for (const g of guests) {
    const row = page.getByTestId(`volume-row-${PREFIX}${g.arch.slice(0, 3)}`);
    await expect(row).toContainText(g.arch);
    await expect(row).toContainText(`${PREFIX}${g.arch.replace("_", "-")}`);
    await expect(row).toContainText("in-use");
    await expect(row.getByRole("button", { name: "Delete" })).toBeDisabled();
  }
  // The VM page: its volume in guest order (vdb), the empty CD drive, the resize form and snapshots.
  const g = guests[0]!;
  await page.goto(`/vms/${g.vmId}`);
  const volumeRow = page.getByTestId(`vm-volume-${PREFIX}${g.arch.slice(0, 3)}`);
  await expect(volumeRow).toContainText("vdb");
  await expect(volumeRow).toContainText("2 GiB");
  await expect(page.getByTestId("vm-media-current")).toContainText("Empty");
  await expect(page.getByRole("form", { name: "Resize VM" })).toBeVisible();
  await expect(page.getByTestId("vm-snapshots")).toBeVisible();
  await context.close();
  const res = await admin.delete(`/api/v1/volumes/${guests[0]!.volumeId}`);
  expect((await json<{ error: { message: string } }>(res, 409)).error.message).toMatch(/detach it first/);
});
