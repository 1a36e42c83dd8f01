import "server-only";
// Registers the test boot fixtures (scripts/fixtures/build.sh) as ready-to-use demo images, one
// kernel-boot image per architecture, so a fresh console can create a VM of each arch at once.
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ARCHES } from "../../arch";
import { db } from "../platform";
import { imagesDir } from "./files";
import { logInfo } from "../platform";

const FAMILY = "busybox-demo";

function sha256File(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

export function demoCmdline(arch: string): string {
  return arch === "aarch64" ? "console=ttyAMA0 panic=-1" : "console=ttyS0 panic=-1";
}

/**
 * The fixture's kernel for kernel boots: manifest.json's `kernel` — on x86_64 the uncompressed vmlinux
 * (PVH entry), which boots seconds faster under TCG than the bzImage — or vmlinuz without a manifest.
 */
function fixtureKernel(dir: string): string {
  try {
    const kernel: unknown = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")).kernel;
    if (typeof kernel === "string" && /^[\w.-]+$/.test(kernel)) return join(dir, kernel);
  } catch {
    // no or unreadable manifest: the file name Debian ships
  }
  return join(dir, "vmlinuz");
}

export async function registerDemoImages(fixturesDir: string): Promise<number> {
  let added = 0;
  for (const arch of ARCHES) {
    const kernel = fixtureKernel(join(fixturesDir, arch));
    const initrd = join(fixturesDir, arch, "initrd.img");
    if (!existsSync(kernel) || !existsSync(initrd)) continue;
    const existing = await db().image.findFirst({ where: { family: FAMILY, arch } });
    if (existing) continue;
    const image = await db().image.create({
      data: {
        name: `busybox-demo-${arch}`,
        family: FAMILY,
        arch,
        format: "kernel",
        status: "pending",
        firmware: arch === "aarch64" ? "uefi" : "bios",
        cmdline: demoCmdline(arch),
        minDiskGb: 1,
        minMemoryMb: 128,
        detectedArch: arch,
        // Demo images are for everyone signed in (the default, project, would hide them from other projects).
        visibility: "public",
      },
    });
    const dir = join(imagesDir(), image.id);
    mkdirSync(dir, { recursive: true });
    copyFileSync(kernel, join(dir, "kernel"));
    copyFileSync(initrd, join(dir, "initrd"));
    const sizeBytes = BigInt(readFileSync(join(dir, "kernel")).length + readFileSync(join(dir, "initrd")).length);
    await db().image.update({
      where: { id: image.id },
      data: {
        status: "ready",
        kernelPath: `${image.id}/kernel`,
        initrdPath: `${image.id}/initrd`,
        sha256: sha256File(join(dir, "kernel")),
        initrdSha256: sha256File(join(dir, "initrd")),
        sizeBytes,
        virtualSize: sizeBytes,
      },
    });
    added++;
    logInfo("demo image registered", { arch, id: image.id });
  }
  return added;
}
