// Real files and the real qemu-img (no mocks): the attacks are only caught if QEMU's own view
// and ours agree on real images.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppError } from "../../errors";
import { inspectImage } from "./inspect-disk";
import { detectKernelBytes, inspectKernelImage } from "./inspect-kernel";
import { reconcileArch } from "./inspect-shared";

const has = (tool: string) => {
  try {
    execFileSync("sh", ["-c", 'command -v "$1"', "sh", tool], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
};
const missing = ["qemu-img", "sfdisk", "mformat", "mmd", "mcopy", "zstd"].filter((t) => !has(t));
const run = (cmd: string, args: string[], input?: string) =>
  execFileSync(cmd, args, { input, stdio: ["pipe", "ignore", "pipe"] });

const FIXTURES = fileURLToPath(new URL("../../../.cache/fixtures/", import.meta.url));
const fixture = (arch: string, file: string) => join(FIXTURES, arch, file);

async function rejection(p: Promise<unknown>): Promise<AppError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(AppError);
  return e as AppError;
}

function fakeEfi(machine: number): Buffer {
  const b = Buffer.alloc(2048);
  b.write("MZ", 0, "latin1");
  b.writeUInt32LE(0x80, 0x3c);
  b.write("PE\0\0", 0x80, "latin1");
  b.writeUInt16LE(machine, 0x84);
  return b;
}

let dir = "";
const p = (name: string) => join(dir, name);

describe.skipIf(missing.length > 0)(
  `inspectImage with qemu-img${missing.length ? ` (skipped: ${missing.join(", ")} not installed)` : ""}`,
  () => {
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), "polyarch-inspect-test-"));
      // A 64 MiB GPT disk: FAT32 ESP with EFI/BOOT/BOOTAA64.EFI, plus a Linux partition.
      writeFileSync(p("arm.raw"), "");
      truncateSync(p("arm.raw"), 64 << 20);
      run(
        "sfdisk",
        ["-q", p("arm.raw")],
        "label: gpt\nstart=2048, size=86016, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\nstart=88064, type=0FC63DAF-8483-4772-8E79-3D69E47DE4E4\n",
      );
      const esp = `${p("arm.raw")}@@1M`;
      run("mformat", ["-i", esp, "-T", "86016", "-F", "-c", "1", "-v", "ESP", "::"]);
      run("mmd", ["-i", esp, "::/EFI", "::/EFI/BOOT"]);
      writeFileSync(p("loader.efi"), fakeEfi(0xaa64));
      run("mcopy", ["-i", esp, p("loader.efi"), "::/EFI/BOOT/BOOTAA64.EFI"]);
      run("qemu-img", ["convert", "-f", "raw", "-O", "qcow2", p("arm.raw"), p("arm.qcow2")]);
    });
    afterAll(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it("raw GPT disk: aarch64 from its ESP, UEFI", async () => {
      const r = await inspectImage(p("arm.raw"), { format: "raw" });
      expect(r).toMatchObject({
        format: "raw",
        virtualSize: 64 << 20,
        firmware: "uefi",
        detectedArch: "aarch64",
        archSource: "esp",
        arch: "aarch64",
      });
      expect(r.bootLoaders).toEqual(["EFI/BOOT/BOOTAA64.EFI (GPT partition 1 (EFI system partition))"]);
    });

    it("the same disk as qcow2 (read through qemu-img dd)", async () => {
      const r = await inspectImage(p("arm.qcow2"), { format: "qcow2", arch: "aarch64" });
      expect(r).toMatchObject({
        format: "qcow2",
        virtualSize: 64 << 20,
        firmware: "uefi",
        detectedArch: "aarch64",
        archSource: "esp",
        arch: "aarch64",
        warnings: [],
      });
      expect(r.actualSize).toBeGreaterThan(0);
      expect(readFileSync(p("arm.qcow2")).length).toBe(r.fileSize);
    });

    it("the same disk as a compressed qcow2, the shape distributions ship (qemu-img convert -c)", async () => {
      run("qemu-img", ["convert", "-c", "-f", "raw", "-O", "qcow2", p("arm.raw"), p("arm-c.qcow2")]);
      const size = readFileSync(p("arm-c.qcow2")).length;
      // The shape that was refused: qemu-img's cluster-aligned image-end-offset lies past the file's end.
      const check = JSON.parse(
        execFileSync("qemu-img", ["check", "--output=json", p("arm-c.qcow2")], { encoding: "utf8" }),
      ) as { "image-end-offset": number };
      expect(check["image-end-offset"]).toBeGreaterThan(size);
      const r = await inspectImage(p("arm-c.qcow2"), { format: "qcow2", arch: "aarch64" });
      expect(r).toMatchObject({ format: "qcow2", virtualSize: 64 << 20, firmware: "uefi", detectedArch: "aarch64" });
    });

    it("a fresh qemu-img create qcow2 (a blank data volume) is not called truncated", async () => {
      run("qemu-img", ["create", "-q", "-f", "qcow2", p("blank.qcow2"), "1G"]);
      const r = await inspectImage(p("blank.qcow2"), { format: "qcow2", arch: "x86_64" });
      expect(r).toMatchObject({ format: "qcow2", virtualSize: 1 << 30, arch: "x86_64" });
    });

    it("a declared arch that contradicts the ESP is refused, naming both", async () => {
      const e = await rejection(inspectImage(p("arm.qcow2"), { format: "qcow2", arch: "x86_64" }));
      expect(e.code).toBe("unprocessable");
      expect(e.message).toMatch(
        /^Declared x86_64 but the image's UEFI boot loader is aarch64 \(EFI\/BOOT\/BOOTAA64\.EFI\)/,
      );
    });

    it("rejects a qcow2 with a backing file (host-file read attack)", async () => {
      run("qemu-img", ["create", "-q", "-f", "qcow2", "-b", "/etc/hostname", "-F", "raw", p("evil.qcow2")]);
      const e = await rejection(inspectImage(p("evil.qcow2"), { format: "qcow2" }));
      expect(e.code).toBe("unprocessable");
      expect(e.message).toMatch(/backing file \("\/etc\/hostname"\).*self-contained/);
    });

    it("rejects a qcow2 with an external data file", async () => {
      run("qemu-img", ["create", "-q", "-f", "qcow2", "-o", `data_file=${p("x.raw")}`, p("datafile.qcow2"), "16M"]);
      const e = await rejection(inspectImage(p("datafile.qcow2"), { format: "qcow2" }));
      expect(e.message).toMatch(/external file .*x\.raw/);
    });

    it("rejects a raw file declared as qcow2, and a qcow2 declared as raw", async () => {
      expect((await rejection(inspectImage(p("arm.raw"), { format: "qcow2" }))).message).toBe(
        "The file is raw, not qcow2: declare it as raw, or upload the right file.",
      );
      expect((await rejection(inspectImage(p("arm.qcow2"), { format: "raw" }))).message).toMatch(
        /^The file is qcow2, not raw/,
      );
    });

    it("rejects a truncated qcow2 (a real one cut in half)", async () => {
      const whole = readFileSync(p("arm.qcow2"));
      writeFileSync(p("half.qcow2"), whole.subarray(0, whole.length >> 1));
      const e = await rejection(inspectImage(p("half.qcow2"), { format: "qcow2", arch: "aarch64" }));
      expect(e.code).toBe("unprocessable");
      expect(e.message).toMatch(/damaged or truncated/);
      expect(e.message).not.toContain(dir); // no host paths in user-facing messages
    });

    it("rejects random bytes declared as qcow2 or raw", async () => {
      writeFileSync(p("random.bin"), Buffer.from(Array.from({ length: 1 << 20 }, (_, i) => (i * 2654435761) >>> 24)));
      expect((await rejection(inspectImage(p("random.bin"), { format: "qcow2" }))).message).toMatch(/raw, not qcow2/);
      expect((await rejection(inspectImage(p("random.bin"), { format: "raw", arch: "x86_64" }))).message).toMatch(
        /no partition table, boot sector or file system/,
      );
      expect((await rejection(inspectImage(p("random.bin"), { format: "iso" }))).message).toMatch(
        /not an ISO 9660 image/,
      );
    });

    it("rejects a 100 TiB virtual size", async () => {
      run("qemu-img", ["create", "-q", "-f", "qcow2", p("huge.qcow2"), "100T"]);
      const e = await rejection(inspectImage(p("huge.qcow2"), { format: "qcow2", arch: "x86_64" }));
      expect(e.message).toMatch(/100 TiB, above the 2 TiB limit/);
      // ...and honours a configured limit.
      run("qemu-img", ["create", "-q", "-f", "qcow2", p("8g.qcow2"), "8G"]);
      expect(
        (await rejection(inspectImage(p("8g.qcow2"), { format: "qcow2", arch: "x86_64" }, { maxVirtualGiB: 4 })))
          .message,
      ).toMatch(/8 GiB, above the 4 GiB limit/);
    });

    it("refuses undetectable + undeclared, and accepts declared with a warning", async () => {
      // A blank disk with only an MBR label: nothing says which CPU it is for.
      writeFileSync(p("blank.raw"), "");
      truncateSync(p("blank.raw"), 8 << 20);
      run("sfdisk", ["-q", p("blank.raw")], "label: dos\nstart=2048, type=83\n");
      expect((await rejection(inspectImage(p("blank.raw"), { format: "raw" }))).message).toMatch(
        /choose x86_64 or aarch64/,
      );
      const r = await inspectImage(p("blank.raw"), { format: "raw", arch: "x86_64" });
      expect(r).toMatchObject({ firmware: "bios", arch: "x86_64", detectedArch: null, archSource: null });
      expect(r.warnings[0]).toMatch(/not detected/);
    });

    it("rejects a symlink and a missing file as invalid", async () => {
      run("ln", ["-s", "/etc/hostname", p("link.raw")]);
      expect((await rejection(inspectImage(p("link.raw"), { format: "raw" }))).code).toBe("invalid");
      expect((await rejection(inspectImage(p("nope.raw"), { format: "raw" }))).code).toBe("invalid");
    });

    for (const arch of ["x86_64", "aarch64"] as const) {
      const present = existsSync(fixture(arch, "disk.qcow2"));
      it.skipIf(!present)(
        `fixture ${arch} disk.qcow2 passes${present ? "" : " (skipped: .cache/fixtures not built)"}`,
        async () => {
          const r = await inspectImage(fixture(arch, "disk.qcow2"), { format: "qcow2", arch });
          // The x86_64 fixture is hybrid (syslinux + EFI/BOOT/BOOTX64.EFI): a UEFI loader wins.
          expect(r).toMatchObject({ format: "qcow2", arch, firmware: "uefi" });
          if (arch === "x86_64") expect(r).toMatchObject({ detectedArch: "x86_64", archSource: "esp" });
        },
      );
    }
  },
);

describe("kernels", () => {
  for (const arch of ["x86_64", "aarch64"] as const) {
    const present = existsSync(fixture(arch, "vmlinuz")) && existsSync(fixture(arch, "initrd.img"));
    it.skipIf(!present)(
      `fixture ${arch} vmlinuz + initrd.img${present ? "" : " (skipped: .cache/fixtures not built)"}`,
      async () => {
        const r = await inspectKernelImage(fixture(arch, "vmlinuz"), fixture(arch, "initrd.img"));
        expect(r).toMatchObject({
          arch,
          detectedArch: arch,
          archSource: "kernel",
          initrdKind: "gzip-compressed cpio archive",
          warnings: [],
        });
      },
    );
  }

  it.skipIf(!existsSync(fixture("aarch64", "vmlinuz")))(
    "a declared-x86_64 kernel that is aarch64 is refused with both named",
    async () => {
      const e = await rejection(inspectKernelImage(fixture("aarch64", "vmlinuz"), undefined, { arch: "x86_64" }));
      expect(e.code).toBe("unprocessable");
      expect(e.message).toMatch(/^Declared x86_64 but the kernel is aarch64 \(arm64 Image/);
    },
  );

  it("reconcileArch", () => {
    const ev = {
      arch: "aarch64" as const,
      source: "kernel" as const,
      subject: "the kernel",
      detail: "arm64 Image header",
    };
    expect(() => reconcileArch("x86_64", ev)).toThrow("Declared x86_64 but the kernel is aarch64 (arm64 Image header)");
    expect(reconcileArch("arm64", ev)).toBe("aarch64");
    expect(reconcileArch(undefined, ev)).toBe("aarch64");
    expect(() =>
      reconcileArch(undefined, { arch: null, source: null, subject: "the kernel", detail: "no header" }),
    ).toThrow(/choose x86_64 or aarch64/);
    expect(() => reconcileArch("sparc", ev)).toThrow(/Unknown architecture/);
    const multi = {
      arch: null,
      source: "esp" as const,
      subject: "the image's UEFI boot loaders",
      detail: "BOOTX64.EFI, BOOTAA64.EFI",
      candidates: ["x86_64", "aarch64"] as ("x86_64" | "aarch64")[],
    };
    expect(reconcileArch("aarch64", multi)).toBe("aarch64");
    expect(() => reconcileArch(undefined, multi)).toThrow(/choose which architecture/);
  });

  describe.skipIf(missing.length > 0)("compressed kernels (zstd via the CLI, gzip, zboot)", () => {
    let kdir = "";
    beforeAll(() => {
      kdir = mkdtempSync(join(tmpdir(), "polyarch-kernel-test-"));
    });
    afterAll(() => {
      if (kdir) rmSync(kdir, { recursive: true, force: true });
    });

    function arm64Image(): Buffer {
      const b = Buffer.alloc(64 * 1024);
      b.write("MZ", 0, "latin1");
      b.writeUInt32LE(0x0a, 0x18);
      b.writeUInt32LE(0x644d5241, 0x38);
      for (let i = 0x100; i < b.length; i++) b[i] = (i * 2654435761) >>> 24;
      return b;
    }
    const zstd = (data: Buffer, level = "-19") => {
      writeFileSync(join(kdir, "in"), data);
      run("zstd", ["-q", "-f", level, join(kdir, "in"), "-o", join(kdir, "in.zst")]);
      return readFileSync(join(kdir, "in.zst"));
    };
    function zboot(payload: Buffer, comp: string): Buffer {
      const b = Buffer.alloc(0x200 + payload.length);
      b.write("MZ", 0, "latin1");
      b.write("zimg", 4, "latin1");
      b.writeUInt32LE(0x200, 8);
      b.writeUInt32LE(payload.length, 12);
      b.write(`${comp}\0`, 24, "latin1");
      payload.copy(b, 0x200);
      return b;
    }

    it("zstd-compressed Image, plain and inside EFI zboot", async () => {
      const z = zstd(arm64Image());
      expect(await detectKernelBytes(z)).toMatchObject({
        arch: "aarch64",
        kind: "zstd-compressed arm64 Image (little-endian, 4K pages)",
      });
      expect(await detectKernelBytes(zboot(z, "zstd"))).toMatchObject({
        arch: "aarch64",
        kind: "EFI zboot, zstd-compressed arm64 Image (little-endian, 4K pages)",
      });
      expect(await detectKernelBytes(zboot(gzipSync(arm64Image()), "gzip"))).toMatchObject({ arch: "aarch64" });
    });

    it("a zstd bomb is only decoded as far as the header needs", async () => {
      const bomb = zstd(Buffer.concat([arm64Image(), Buffer.alloc(512 << 20)]), "-1"); // 512 MiB of zeros behind the header
      expect(bomb.length).toBeLessThan(1 << 20);
      const t = Date.now();
      expect((await detectKernelBytes(bomb)).arch).toBe("aarch64");
      expect(Date.now() - t).toBeLessThan(5000);
    });

    it("kernel and initrd sanity", async () => {
      writeFileSync(join(kdir, "Image.zst"), zstd(arm64Image()));
      const cpio = Buffer.alloc(4096);
      cpio.write("070701", 0, "latin1");
      writeFileSync(join(kdir, "initrd.zst"), zstd(cpio));
      const r = await inspectKernelImage(join(kdir, "Image.zst"), join(kdir, "initrd.zst"));
      expect(r).toMatchObject({ arch: "aarch64", initrdKind: "zstd-compressed cpio archive" });
      // Swapped files are explained.
      const e = await rejection(inspectKernelImage(join(kdir, "initrd.zst"), join(kdir, "Image.zst")));
      expect(e.message).toMatch(/not a Linux kernel: this is a cpio archive/);
      writeFileSync(join(kdir, "plain-image"), arm64Image());
      const e2 = await rejection(inspectKernelImage(join(kdir, "plain-image"), join(kdir, "plain-image")));
      expect(e2.message).toMatch(/initrd is not a cpio archive.*looks like a kernel \(arm64 Image/);
    });
  });
});
