// Real FAT/GPT/MBR/ISO images built with Debian tools (util-linux sfdisk, mtools, genisoimage),
// read back through the pure scanner.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bytesReader, scanEfiBootLoaders } from "./esp";

const has = (tool: string) => {
  try {
    execFileSync("sh", ["-c", 'command -v "$1"', "sh", tool], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
};
const missing = ["sfdisk", "mformat", "mmd", "mcopy", "genisoimage"].filter((t) => !has(t));

/** A minimal PE/COFF header with the given Machine, standing in for a real EFI loader. */
function fakeEfi(machine: number): Buffer {
  const b = Buffer.alloc(2048);
  b.write("MZ", 0, "latin1");
  b.writeUInt32LE(0x80, 0x3c);
  b.write("PE\0\0", 0x80, "latin1");
  b.writeUInt16LE(machine, 0x84);
  return b;
}

let dir = "";
const run = (cmd: string, args: string[], input?: string) =>
  execFileSync(cmd, args, { input, stdio: ["pipe", "ignore", "pipe"] });

/** Formats a FAT file system at `offset` of `image` and copies loaders into EFI/BOOT/. */
function fatWith(image: string, offset: number, sectors: number, fatArgs: string[], files: Record<string, Buffer>) {
  const target = `${image}@@${offset}`;
  run("mformat", ["-i", target, ...(sectors ? ["-T", String(sectors)] : []), ...fatArgs, "-v", "ESP", "::"]);
  run("mmd", ["-i", target, "::/EFI", "::/EFI/BOOT"]);
  for (const [name, data] of Object.entries(files)) {
    const src = join(dir, "loader.bin");
    writeFileSync(src, data);
    run("mcopy", ["-i", target, src, `::/EFI/BOOT/${name}`]);
  }
}

const scan = (path: string) => scanEfiBootLoaders(bytesReader(new Uint8Array(readFileSync(path))));

describe.skipIf(missing.length > 0)(
  `scanEfiBootLoaders on real images${missing.length ? ` (skipped: ${missing.join(", ")} not installed)` : ""}`,
  () => {
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), "polyarch-esp-test-"));
    });
    afterAll(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it("GPT + FAT32 ESP with EFI/BOOT/BOOTAA64.EFI", async () => {
      const img = join(dir, "gpt.raw");
      writeFileSync(img, "");
      truncateSync(img, 64 << 20);
      run(
        "sfdisk",
        ["-q", img],
        "label: gpt\nstart=2048, size=86016, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\nstart=88064, type=0FC63DAF-8483-4772-8E79-3D69E47DE4E4\n",
      );
      fatWith(img, 1 << 20, 86016, ["-F", "-c", "1"], {
        "BOOTAA64.EFI": fakeEfi(0xaa64),
        "grubaa64.efi": fakeEfi(0xaa64),
      });
      const r = await scan(img);
      expect(r.partitionTable).toBe("gpt");
      expect(r.arches).toEqual(["aarch64"]);
      expect(r.loaders).toEqual([
        {
          path: "EFI/BOOT/BOOTAA64.EFI",
          arch: "aarch64",
          archName: "aarch64",
          location: "GPT partition 1 (EFI system partition)",
        },
      ]);
    });

    it("MBR type 0xEF FAT16 ESP with a lower-case long name bootx64.efi", async () => {
      const img = join(dir, "mbr.raw");
      writeFileSync(img, "");
      truncateSync(img, 40 << 20);
      run("sfdisk", ["-q", img], "label: dos\nstart=2048, size=65536, type=ef\n");
      fatWith(img, 1 << 20, 65536, [], { "bootx64.efi": fakeEfi(0x8664) });
      const r = await scan(img);
      expect(r.partitionTable).toBe("mbr");
      expect(r.loaders.map((l) => [l.path, l.arch, l.location])).toEqual([
        ["EFI/BOOT/bootx64.efi", "x86_64", "MBR partition 1 (EFI system partition, type 0xEF)"],
      ]);
    });

    it("FAT12 without a partition table, both arches and an unsupported 32-bit loader", async () => {
      const img = join(dir, "floppy.img");
      writeFileSync(img, "");
      truncateSync(img, 2880 * 512);
      fatWith(img, 0, 0, ["-f", "2880"], {
        "BOOTX64.EFI": fakeEfi(0x8664),
        "BOOTAA64.EFI": fakeEfi(0xaa64),
        "BOOTIA32.EFI": fakeEfi(0x014c),
      });
      const r = await scan(img);
      expect(r.partitionTable).toBe("none");
      expect(r.arches.sort()).toEqual(["aarch64", "x86_64"]);
      expect(r.loaders.find((l) => l.path.endsWith("BOOTIA32.EFI"))).toMatchObject({
        arch: null,
        archName: "x86 32-bit (i386)",
      });
    });

    it("a loader whose PE header contradicts its name is not trusted", async () => {
      const img = join(dir, "liar.img");
      writeFileSync(img, "");
      truncateSync(img, 2880 * 512);
      fatWith(img, 0, 0, ["-f", "2880"], { "BOOTAA64.EFI": fakeEfi(0x8664) });
      const r = await scan(img);
      expect(r.arches).toEqual([]);
      expect(r.loaders[0]).toMatchObject({ path: "EFI/BOOT/BOOTAA64.EFI", arch: null });
      expect(r.notes[0]).toMatch(/named for aarch64 but its header says .*x86_64/);
    });

    it("ISO with an El Torito EFI boot image", async () => {
      const tree = join(dir, "iso-tree");
      mkdirSync(tree);
      const efiImg = join(tree, "efiboot.img");
      writeFileSync(efiImg, "");
      truncateSync(efiImg, 2880 * 512);
      fatWith(efiImg, 0, 0, ["-f", "2880"], { "BOOTAA64.EFI": fakeEfi(0xaa64) });
      const iso = join(dir, "boot.iso");
      run("genisoimage", [
        "-quiet",
        "-o",
        iso,
        "-V",
        "POLYARCH",
        "-J",
        "-R",
        "-c",
        "boot.cat",
        "-e",
        "efiboot.img",
        "-no-emul-boot",
        tree,
      ]);
      const r = await scan(iso);
      expect(r.loaders).toEqual([
        { path: "EFI/BOOT/BOOTAA64.EFI", arch: "aarch64", archName: "aarch64", location: "El Torito EFI boot image" },
      ]);
    });

    it("no partition table, random bytes: nothing found, no throw", async () => {
      const random = Uint8Array.from({ length: 1 << 20 }, (_, i) => (i * 2654435761) >>> 24);
      const r = await scanEfiBootLoaders(bytesReader(random));
      expect(r).toMatchObject({ partitionTable: "none", loaders: [], arches: [] });
    });
  },
);
