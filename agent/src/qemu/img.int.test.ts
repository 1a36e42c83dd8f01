// Real qemu-img against temp files (no QEMU guest involved).
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createQcow2, gbToBytes, imageInfo, QemuImgError, resizeImage } from "./img";

function hasQemuImg(): boolean {
  try {
    execFileSync("qemu-img", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

const haveQemuImg = hasQemuImg();
describe.skipIf(!haveQemuImg)(`qemu-img wrappers${haveQemuImg ? "" : " (skipped: qemu-img not installed)"}`, () => {
  let tmp: string;
  beforeAll(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), "pa-img-"));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it("creates a blank qcow2 and reads its info", async () => {
    const p = path.join(tmp, "blank.qcow2");
    await createQcow2(p, { sizeGb: 2 });
    const info = await imageInfo(p);
    expect(info.format).toBe("qcow2");
    expect(info["virtual-size"]).toBe(gbToBytes(2));
  });

  it("creates an overlay on a raw base with an explicit backing format, then grows it", async () => {
    const base = path.join(tmp, "base.raw");
    writeFileSync(base, Buffer.alloc(1024 * 1024, 1));
    const ov = path.join(tmp, "ov.qcow2");
    await createQcow2(ov, { base, baseFormat: "raw", sizeGb: 1 });
    const info = await imageInfo(ov, { format: "qcow2" });
    expect(info["backing-filename"]).toBe(base);
    expect(info["backing-filename-format"]).toBe("raw");
    expect(info["virtual-size"]).toBe(gbToBytes(1));
    await resizeImage(ov, 3);
    expect((await imageInfo(ov))["virtual-size"]).toBe(gbToBytes(3));
    await resizeImage(ov, 3); // same size: no-op
    await expect(resizeImage(ov, 1)).rejects.toThrow(/shrink/);
  });

  it("overlay without size inherits the base size", async () => {
    const base = path.join(tmp, "base2.qcow2");
    await createQcow2(base, { sizeGb: 1 });
    const ov = path.join(tmp, "ov2.qcow2");
    await createQcow2(ov, { base, baseFormat: "qcow2" });
    expect((await imageInfo(ov))["virtual-size"]).toBe(gbToBytes(1));
  });

  it("reports qemu-img's error for a missing file", async () => {
    const err = await imageInfo(path.join(tmp, "missing.qcow2")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QemuImgError);
    expect((err as Error).message).toMatch(/qemu-img info failed/);
  });

  it("requires a backing format with a base", async () => {
    await expect(createQcow2(path.join(tmp, "x.qcow2"), { base: "/nonexistent" })).rejects.toThrow(/baseFormat/);
  });
});
