// Kernel inspection reads a bounded window, never the whole file (issue 12, finding 7). Proven by
// this process's peak resident memory (its own vitest worker: integration files run one per
// process): inspecting three 250 MiB kernels (sparse files, real headers in front) must not raise
// it by anything near 250 MiB, which reading a whole file into memory cannot avoid.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyFileSync, existsSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { inspectKernelImage, KERNEL_WINDOW_BYTES, kernelWindow } from "./inspect-kernel";

const MiB = 1024 * 1024;
const BIG = 250 * MiB; // under the 256 MiB kernel limit, so the old code did read it whole
const FIX = resolve(".cache/fixtures");
const kernel = (arch: string) => join(FIX, arch, "vmlinuz");
const haveFixtures = existsSync(kernel("x86_64")) && existsSync(kernel("aarch64"));

function arm64Image(): Buffer {
  const b = Buffer.alloc(64 * 1024);
  b.write("MZ", 0, "latin1");
  b.writeUInt32LE(0x0a, 0x18);
  b.writeUInt32LE(0x644d5241, 0x38);
  return b;
}

/** An EFI zboot header whose gzip payload is declared (and stored) as `payloadBytes` long. */
function zbootHeader(payload: Buffer, payloadBytes: number): Buffer {
  const b = Buffer.alloc(0x200 + payload.length);
  b.write("MZ", 0, "latin1");
  b.write("zimg", 4, "latin1");
  b.writeUInt32LE(0x200, 8);
  b.writeUInt32LE(payloadBytes, 12);
  b.write("gzip\0", 24, "latin1");
  payload.copy(b, 0x200);
  return b;
}

describe.skipIf(!haveFixtures)("bounded-memory kernel inspection", () => {
  let dir = "";
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "polyarch-kernel-mem-"));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("reads only a window of a 250 MiB zboot kernel, with the payload size cut to match", async () => {
    const path = join(dir, "zboot-window");
    writeFileSync(path, zbootHeader(gzipSync(arm64Image()), BIG - 0x200));
    truncateSync(path, BIG);
    const view = await kernelWindow(path, BIG);
    expect(view.length).toBe(0x200 + KERNEL_WINDOW_BYTES);
    expect(Buffer.from(view).readUInt32LE(12)).toBe(KERNEL_WINDOW_BYTES);
  });

  it("inspecting 250 MiB kernels does not raise peak memory by their size", async () => {
    const files: [string, string][] = [];
    for (const arch of ["x86_64", "aarch64"]) {
      const path = join(dir, `big-${arch}`);
      copyFileSync(kernel(arch), path);
      truncateSync(path, BIG); // the real header in front, a sparse tail: no disk used, every byte readable
      files.push([path, arch]);
    }
    const zboot = join(dir, "big-zboot");
    writeFileSync(zboot, zbootHeader(gzipSync(arm64Image()), BIG - 0x200));
    truncateSync(zboot, BIG);
    files.push([zboot, "aarch64"]);

    // Warm up (module loading, the first Buffer pools) on the small real kernel, then measure.
    await inspectKernelImage(kernel("x86_64"));
    const before = process.resourceUsage().maxRSS * 1024;
    for (const [path, arch] of files) expect((await inspectKernelImage(path)).arch).toBe(arch);
    const grown = process.resourceUsage().maxRSS * 1024 - before;
    // Reading one file whole costs 250 MiB of touched pages; the window is 16 MiB.
    expect(grown).toBeLessThan(100 * MiB);
  });
});
