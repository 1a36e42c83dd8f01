import { existsSync, readFileSync } from "node:fs";
import { constants, gunzipSync, gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { gunzipPrefix, InflateError } from "./inflate";
import { compressionOf, detectKernelArch } from "./kernel";

// --- synthetic headers -------------------------------------------------------------------------

function buf(size = 4096): Uint8Array {
  return new Uint8Array(size);
}
function put(b: Uint8Array, off: number, s: string) {
  for (let i = 0; i < s.length; i++) b[off + i] = s.charCodeAt(i);
}
const le16 = (b: Uint8Array, o: number, v: number) => new DataView(b.buffer, b.byteOffset).setUint16(o, v, true);
const le32 = (b: Uint8Array, o: number, v: number) => new DataView(b.buffer, b.byteOffset).setUint32(o, v, true);

function bzImage(opts: { version?: number; xloadflags?: number; pe?: number } = {}): Uint8Array {
  const b = buf(8192);
  put(b, 0, "MZ");
  put(b, 0x202, "HdrS");
  le16(b, 0x206, opts.version ?? 0x020f);
  le16(b, 0x236, opts.xloadflags ?? 1);
  le16(b, 0x20e, 0x1000 - 0x200); // kernel_version pointer (relative to 0x200)
  put(b, 0x1000, "6.1.0-test-amd64 (builder@example) #1\0");
  if (opts.pe !== undefined) {
    le32(b, 0x3c, 0x80);
    put(b, 0x80, "PE\0\0");
    le16(b, 0x84, opts.pe);
  }
  return b;
}

function arm64Image(): Uint8Array {
  const b = buf();
  put(b, 0, "MZ");
  le32(b, 0x18, 0x0a); // LE, 4K pages
  le32(b, 0x38, 0x644d5241); // "ARM\x64"
  le32(b, 0x3c, 0x40);
  put(b, 0x40, "PE\0\0");
  le16(b, 0x44, 0xaa64);
  return b;
}

function elf(machine: number, cls: 1 | 2 = 2): Uint8Array {
  const b = buf(256);
  put(b, 0, "\x7fELF");
  b[4] = cls;
  b[5] = 1;
  le16(b, 0x12, machine);
  return b;
}

function pe(machine: number): Uint8Array {
  const b = buf(1024);
  put(b, 0, "MZ");
  le32(b, 0x3c, 0x80);
  put(b, 0x80, "PE\0\0");
  le16(b, 0x84, machine);
  return b;
}

/** EFI zboot container (drivers/firmware/efi/libstub/zboot-header.S) around `payload`. */
function zboot(payload: Uint8Array, comp: string): Uint8Array {
  const b = buf(0x200 + payload.length);
  put(b, 0, "MZ");
  put(b, 4, "zimg");
  le32(b, 8, 0x200);
  le32(b, 12, payload.length);
  put(b, 24, `${comp}\0`);
  le32(b, 0x3c, 0x40);
  put(b, 0x40, "PE\0\0");
  le16(b, 0x44, 0xaa64);
  b.set(payload, 0x200);
  return b;
}

/** Appends incompressible bytes so a compressed test header is kernel-sized, not a 40-byte stub. */
function padded(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(b.length + 4096);
  out.set(b);
  for (let i = b.length; i < out.length; i++) out[i] = ((i * 2654435761) >>> 24) & 0xff;
  return out;
}

const ZSTD_MAGIC = Uint8Array.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0, ...new Array(64).fill(0)]);

describe("detectKernelArch: synthetic headers", () => {
  const cases: Array<[string, Uint8Array, string | null, RegExp]> = [
    ["x86 bzImage, 64-bit flag", bzImage(), "x86_64", /^x86 bzImage 6\.1\.0-test-amd64 \(boot protocol 2\.15\)$/],
    ["x86 bzImage preferred over its own PE header", bzImage({ pe: 0x8664 }), "x86_64", /bzImage/],
    ["32-bit bzImage", bzImage({ xloadflags: 0, pe: 0x014c }), null, /bzImage/],
    [
      "old-protocol bzImage with x86_64 PE",
      bzImage({ version: 0x020a, xloadflags: 0, pe: 0x8664 }),
      "x86_64",
      /boot protocol 2\.10/,
    ],
    ["arm64 Image", arm64Image(), "aarch64", /^arm64 Image \(little-endian, 4K pages\)$/],
    ["ELF x86_64 vmlinux", elf(0x3e), "x86_64", /^ELF 64-bit LE/],
    ["ELF aarch64 vmlinux", elf(0xb7), "aarch64", /^ELF 64-bit LE/],
    ["ELF ARM 32-bit", elf(0x28, 1), null, /^ELF 32-bit/],
    ["ELF i386", elf(0x03, 1), null, /^ELF 32-bit/],
    ["PE x86_64 EFI stub", pe(0x8664), "x86_64", /PE\/COFF machine 0x8664 x86_64/],
    ["PE aarch64 EFI stub", pe(0xaa64), "aarch64", /PE\/COFF machine 0xAA64 aarch64/],
    ["PE RISC-V", pe(0x5064), null, /RISC-V/],
    ["gzip-wrapped arm64 Image", gzipSync(arm64Image()), "aarch64", /^gzip-compressed arm64 Image/],
    [
      "gzip-wrapped bzImage (stored blocks)",
      gzipSync(bzImage(), { level: 0 }),
      "x86_64",
      /^gzip-compressed x86 bzImage/,
    ],
    [
      "gzip-wrapped ELF (fixed Huffman)",
      gzipSync(padded(elf(0xb7)), { strategy: constants.Z_FIXED }),
      "aarch64",
      /^gzip-compressed ELF/,
    ],
    [
      "EFI zboot, gzip payload",
      zboot(gzipSync(arm64Image()), "gzip"),
      "aarch64",
      /^EFI zboot, gzip-compressed arm64 Image/,
    ],
  ];
  it.each(cases)("%s", (_name, bytes, arch, kind) => {
    const d = detectKernelArch(bytes);
    expect(d.arch).toBe(arch);
    expect(d.kind).toMatch(kind);
    expect(d.reason.length).toBeGreaterThan(10);
  });

  it("names unsupported ELF machines", () => {
    const d = detectKernelArch(elf(0x28, 1));
    expect(d.reason).toBe("ELF machine 0x28 (ARM 32-bit) is not supported: Polyarch runs x86_64 and aarch64");
    expect(d.unsupported).toBe(true);
    expect(detectKernelArch(bzImage({ xloadflags: 0 })).reason).toMatch(/32-bit \(i386\)/);
  });

  it("leaves zstd to the caller, with where the payload is", () => {
    const whole = detectKernelArch(ZSTD_MAGIC);
    expect(whole).toMatchObject({
      arch: null,
      compression: "zstd",
      payloadOffset: 0,
      reason: "compressed with zstd: needs decompression",
    });
    const z = detectKernelArch(zboot(ZSTD_MAGIC, "zstd"));
    expect(z).toMatchObject({
      arch: null,
      compression: "zstd",
      payloadOffset: 0x200,
      payloadLength: ZSTD_MAGIC.length,
      wrapper: "EFI zboot, zstd-compressed",
    });
  });

  it("explains what it could not recognise", () => {
    expect(detectKernelArch(new Uint8Array(10)).reason).toMatch(/too small/);
    const random = Uint8Array.from({ length: 4096 }, (_, i) => (i * 37 + 11) & 0xff);
    const d = detectKernelArch(random);
    expect(d).toMatchObject({ arch: null, kind: "unknown", notKernel: true });
    expect(d.reason).toMatch(/no kernel header found/);
    const cpio = buf(512);
    put(cpio, 0, "070701");
    expect(detectKernelArch(gzipSync(padded(cpio)))).toMatchObject({
      arch: null,
      notKernel: true,
      kind: "gzip-compressed cpio archive",
    });
    const trunc = gzipSync(Uint8Array.from({ length: 100000 }, (_, i) => (i * 7919) & 0xff)).subarray(0, 200);
    expect(detectKernelArch(trunc).reason).toMatch(/gzip data could not be decoded/);
    const zb = zboot(gzipSync(arm64Image()), "gzip");
    expect(detectKernelArch(zb.subarray(0, 0x210)).reason).toMatch(/outside the file/);
  });

  it("recognises compression magics", () => {
    expect(compressionOf(Uint8Array.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0]))).toBe("xz");
    expect(compressionOf(Uint8Array.from([0x04, 0x22, 0x4d, 0x18]))).toBe("lz4");
    expect(compressionOf(new TextEncoder().encode("BZh9"))).toBe("bzip2");
  });
});

describe("inflate (pure gunzip prefix)", () => {
  it("matches node:zlib and stops at the limit (zip-bomb guard)", () => {
    const data = Uint8Array.from({ length: 300_000 }, (_, i) => ((i * 2654435761) >>> 24) ^ (i & 7));
    for (const level of [0, 1, 6, 9]) {
      const gz = gzipSync(data, { level });
      const full = gunzipPrefix(gz, 1 << 20);
      expect(full.complete).toBe(true);
      expect(Buffer.compare(Buffer.from(full.out), gunzipSync(gz))).toBe(0);
    }
    const bomb = gzipSync(new Uint8Array(64 << 20)); // 64 MiB of zeros in ~64 KiB
    const prefix = gunzipPrefix(bomb, 4096);
    expect(prefix.complete).toBe(false);
    expect(prefix.out.length).toBe(4096);
    expect(() =>
      gunzipPrefix(
        Uint8Array.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
        100,
      ),
    ).toThrow(InflateError);
  });
});

describe("detectKernelArch: real Debian kernels", () => {
  const fixtures = new URL("../../.cache/fixtures/", import.meta.url);
  for (const arch of ["x86_64", "aarch64"] as const) {
    const path = new URL(`${arch}/vmlinuz`, fixtures);
    // Fixtures are built by scripts/fixtures (Debian linux-image 6.1); absent on a fresh clone.
    it.skipIf(!existsSync(path))(
      `${arch} vmlinuz${existsSync(path) ? "" : " (skipped: .cache/fixtures not built)"}`,
      () => {
        const bytes = new Uint8Array(readFileSync(path));
        const d = detectKernelArch(bytes);
        expect(d.arch).toBe(arch);
        expect(d.kind).toMatch(arch === "x86_64" ? /^x86 bzImage 6\.1\./ : /arm64 Image/);
        // The same kernel gzip-wrapped (like arm64 Image.gz) is still detected.
        expect(detectKernelArch(gzipSync(bytes.subarray(0, 2 << 20), { level: 1 })).arch).toBe(arch);
      },
    );
  }
});
