import { test, expect, request as pwRequest, type APIRequestContext } from "@playwright/test";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { baseURL } from "../playwright.config";
import { adminApi, startMixedFleet, waitForFleetOnline, type Fleet } from "./console-helpers";
import { storageStateFor } from "./helpers";
import { SerialShell } from "./serial-shell";
import { E2E_DATA_DIR } from "./paths";

// The world's inputs (issue 13): images in the shapes users really bring, built by
// scripts/fixtures/build.sh (.cache/fixtures/<arch>/, made by global setup / npm run fixtures —
// this spec never rebuilds them), uploaded through the real upload API and booted on the real
// mixed fleet (an x86_64 and an aarch64 agent, real QEMU under TCG):
//  - cloud.qcow2: a COMPRESSED qcow2 (qemu-img convert -c, as Debian and Ubuntu ship cloud
//    images) with GPT + EFI system partition; its own boot loader puts polyarch.boot=cloud on
//    the kernel command line, so init prints POLYARCH-CLOUD-OK with the size of its disk.
//  - install.iso: a bootable ISO (x86_64 BIOS El Torito/isolinux, aarch64 UEFI El Torito/GRUB)
//    booted as a CD-ROM with a blank disk of diskGb; init prints POLYARCH-ISO-OK disk=<bytes>.
// One VM per arch per shape, 256 MiB, deleted before the next shape starts.
type Arch = "x86_64" | "aarch64";
const ARCHES: Arch[] = ["x86_64", "aarch64"];
const GiB = 1024 ** 3;
const RUN = `e2e-media-${Date.now() % 1_000_000}`;
const FIXTURES = resolve(".cache/fixtures");

let fleet: Fleet;
let admin: APIRequestContext;
let operator: APIRequestContext;
const createdVms = new Set<string>();
const uploadedImages = new Set<string>();

test.describe.configure({ mode: "serial" });
test.setTimeout(480_000);

type Image = {
  id: string;
  arch: string;
  detectedArch: string | null;
  format: string;
  firmware: string;
  status: string;
  virtualSize: number;
  minDiskGb: number;
  warnings: string[];
};
type Host = { id: string; arch: string; name: string };

function fixture(arch: Arch, file: string) {
  const path = resolve(FIXTURES, arch, file);
  if (!existsSync(path)) throw new Error(`${path} is missing: run scripts/fixtures/build.sh (global setup does)`);
  return path;
}

async function upload(arch: Arch, file: "cloud.qcow2" | "install.iso", declareArch: boolean): Promise<Image> {
  const format = file.endsWith(".iso") ? "iso" : "qcow2";
  const res = await operator.post("/api/v1/images", {
    multipart: {
      name: `${RUN}-${file.replace(".", "-")}-${arch}`,
      format,
      ...(declareArch ? { arch } : {}),
      file: { name: file, mimeType: "application/octet-stream", buffer: readFileSync(fixture(arch, file)) },
    },
    timeout: 180_000,
  });
  expect(res.status(), await res.text()).toBe(201);
  const image = (await res.json()) as Image;
  uploadedImages.add(image.id);
  expect(image.status).toBe("ready");
  expect(image.format).toBe(format);
  expect(image.arch).toBe(arch);
  return image;
}

async function createVm(arch: Arch, image: Image, name: string, diskGb: number) {
  const res = await operator.post("/api/v1/vms", {
    data: { name, arch, imageId: image.id, vcpus: 1, memoryMb: 256, diskGb },
  });
  expect(res.status(), await res.text()).toBe(202);
  const { vm, host } = (await res.json()) as { vm: { id: string }; host: Host };
  createdVms.add(vm.id);
  return { vmId: vm.id, hostId: host.id };
}

async function hostArch(hostId: string) {
  const hosts = (await (await admin.get("/api/v1/hosts?pageSize=200")).json()).items as Host[];
  return hosts.find((h) => h.id === hostId)!.arch;
}

/** The VM's serial log as the agent of its host writes it (scripts/fleet/fleet.mjs data dir). */
async function serialLogOf(vmId: string, hostId: string) {
  const file = resolve(E2E_DATA_DIR, "fleet", await hostArch(hostId), "state/vms", vmId, "serial.log");
  return () => (existsSync(file) ? readFileSync(file, "utf8") : "");
}

async function waitRunning(vmId: string) {
  await expect
    .poll(
      async () => {
        const vm = await (await operator.get(`/api/v1/vms/${vmId}`)).json();
        if (vm.status === "error") throw new Error(`VM ${vmId} failed: ${vm.lastError}`);
        return vm.status;
      },
      { timeout: 240_000 },
    )
    .toBe("running");
}

/** Deletes this spec's VMs and waits until they are gone; `strict` (in a test) fails when one stays. */
async function deleteVms(strict: boolean) {
  for (const id of createdVms) {
    const res = await admin.delete(`/api/v1/vms/${id}`).catch(() => null);
    if (strict) expect(res?.status()).toBe(200);
  }
  for (const id of createdVms) {
    const gone = expect
      .poll(async () => (await admin.get(`/api/v1/vms/${id}`)).status(), { timeout: 120_000 })
      .toBe(404);
    await (strict ? gone : gone.catch(() => {}));
    createdVms.delete(id);
  }
}

test.beforeAll(async () => {
  fleet = await startMixedFleet();
  admin = await adminApi();
  operator = await pwRequest.newContext({ baseURL, storageState: storageStateFor("operator") });
  await waitForFleetOnline(admin, fleet);
});

test.afterAll(async () => {
  if (admin) {
    await deleteVms(false);
    // Gone for the specs after this one (lists, quotas): retried while a deleted VM still holds it.
    for (const id of uploadedImages) {
      await expect
        .poll(async () => [200, 204, 404].includes((await admin.delete(`/api/v1/images/${id}`)).status()), {
          timeout: 60_000,
        })
        .toBe(true)
        .catch((e) => console.warn(`image ${id} not deleted: ${e}`));
    }
  }
  await fleet?.stop();
  await operator?.dispose();
  await admin?.dispose();
});

test("compressed qcow2 cloud images (GPT + ESP) of both arches upload with their arch detected and boot from their own boot loader", async () => {
  const vms: { arch: Arch; vmId: string; log: () => string }[] = [];
  for (const arch of ARCHES) {
    // The fixture really is the shape in question: compressed clusters.
    const check = JSON.parse(
      execFileSync("qemu-img", ["check", "--output=json", "-f", "qcow2", fixture(arch, "cloud.qcow2")], {
        encoding: "utf8",
      }),
    ) as { "compressed-clusters"?: number };
    expect(check["compressed-clusters"] ?? 0).toBeGreaterThan(0);

    const image = await upload(arch, "cloud.qcow2", false); // not declared: detected from EFI/BOOT/BOOT*.EFI
    expect(image.detectedArch).toBe(arch);
    expect(image.firmware).toBe("uefi");
    expect(image.virtualSize).toBe(GiB);
    expect(image.minDiskGb).toBe(1);
    const { vmId, hostId } = await createVm(arch, image, `${RUN}-cloud-${arch.replace("_", "")}`, 1);
    expect(await hostArch(hostId)).toBe(arch);
    vms.push({ arch, vmId, log: await serialLogOf(vmId, hostId) });
  }
  for (const { arch, vmId, log } of vms) {
    await waitRunning(vmId);
    // The cloud image's own GRUB config adds polyarch.boot=cloud: this line proves the VM booted
    // that disk (not a kernel handed to QEMU), and disk= its size (diskGb 1).
    await expect
      .poll(log, { timeout: 240_000, message: `${arch} cloud image boot marker` })
      .toContain(`POLYARCH-CLOUD-OK arch=${arch} disk=${GiB}`);
    // BOOT-OK follows once the guest has painted its display mark (up to a few seconds later).
    await expect
      .poll(log, { timeout: 60_000, message: `${arch} boot marker` })
      .toContain(`POLYARCH-BOOT-OK arch=${arch}`);
  }
  await deleteVms(true);
});

test("install ISOs of both arches boot from the CD-ROM to their marker with the blank install disk of diskGb visible", async () => {
  const vms: { arch: Arch; vmId: string; log: () => string }[] = [];
  for (const arch of ARCHES) {
    // aarch64's ISO carries EFI/BOOT/BOOTAA64.EFI in its El Torito EFI image (detected); the x86_64
    // one boots with BIOS El Torito (isolinux) only, so its arch is declared, as a user would.
    const image = await upload(arch, "install.iso", arch === "x86_64");
    if (arch === "aarch64") {
      expect(image.detectedArch).toBe("aarch64");
      expect(image.firmware).toBe("uefi");
    } else {
      expect(image.firmware).toBe("bios");
    }
    const { vmId, hostId } = await createVm(arch, image, `${RUN}-iso-${arch.replace("_", "")}`, 2);
    expect(await hostArch(hostId)).toBe(arch);
    vms.push({ arch, vmId, log: await serialLogOf(vmId, hostId) });
  }
  for (const { arch, vmId, log } of vms) {
    await waitRunning(vmId);
    const spec = await (await operator.get(`/api/v1/vms/${vmId}`)).json();
    expect(spec.diskGb).toBe(2);
    await expect
      .poll(log, { timeout: 240_000, message: `${arch} ISO boot marker` })
      .toContain(`POLYARCH-ISO-OK arch=${arch} disk=${2 * GiB}`);
    // The console shell runs after the marker; the CD-ROM (AHCI on q35, virtio-scsi on virt) is
    // a block device of the guest next to the blank disk.
    const con = await SerialShell.open(operator, vmId);
    try {
      await con.shellReady(`iso-${arch}`);
      const { out, rc } = await con.run(
        'echo "BLOCK[$(ls /sys/block | tr "\\n" " ")] VDA[$(cat /sys/block/vda/size)]"',
        `blk-${arch}`,
      );
      expect(rc).toBe(0);
      expect(out).toMatch(/BLOCK\[[^\]]*\bsr0\b[^\]]*\]/);
      expect(out).toContain(`VDA[${(2 * GiB) / 512}]`);
    } finally {
      con.close();
    }
  }
  await deleteVms(true);
});
