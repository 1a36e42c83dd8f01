// The qcow2 layout arithmetic (qcow2.int.test.ts compares the written files with qemu-img's own).
import { describe, expect, it } from "vitest";
import { qcow2Layout } from "./qcow2";

const GiB = 1024 ** 3;

describe("qcow2Layout", () => {
  // File sizes and L1 lengths as `qemu-img create -f qcow2 <file> <size>` (7.2) leaves them.
  it.each([
    [1 * GiB, 2, 1, 196_624],
    [1.5 * GiB, 3, 1, 196_632],
    [4096 * GiB, 8192, 1, 262_144],
    [4097 * GiB, 8194, 2, 262_160],
    [65_536 * GiB, 131_072, 16, 1_245_184],
  ])("%d bytes: %d L1 entries in %d cluster(s), file of %d bytes", (size, l1Entries, l1Clusters, fileSize) => {
    const l = qcow2Layout(size);
    expect(l.l1Entries).toBe(l1Entries);
    expect(l.l1Clusters).toBe(l1Clusters);
    expect(l.fileSize).toBe(fileSize);
  });

  it("puts the header fields where the qcow2 spec says", () => {
    const h = qcow2Layout(3 * GiB, { file: "/images/base.raw", format: "raw" }).header;
    expect(h.subarray(0, 4).toString("latin1")).toBe("QFI\xfb");
    expect(h.readUInt32BE(4)).toBe(3);
    expect(h.readUInt32BE(20)).toBe(16);
    expect(Number(h.readBigUInt64BE(24))).toBe(3 * GiB);
    expect(h.readUInt32BE(36)).toBe(6);
    expect(h.readUInt32BE(100)).toBe(112);
    // first extension: the backing format
    expect(h.readUInt32BE(112)).toBe(0xe2792aca);
    expect(h.toString("latin1", 120, 120 + h.readUInt32BE(116))).toBe("raw");
    const at = Number(h.readBigUInt64BE(8));
    expect(h.toString("utf8", at, at + h.readUInt32BE(16))).toBe("/images/base.raw");
  });

  it("refuses sizes and backing names QEMU would not take", () => {
    expect(() => qcow2Layout(0)).toThrow(/positive multiple of 512/);
    expect(() => qcow2Layout(1000)).toThrow(/positive multiple of 512/);
    expect(() => qcow2Layout(GiB, { file: "x".repeat(1024), format: "qcow2" })).toThrow(/1–1023 bytes/);
    expect(() => qcow2Layout(GiB, { file: "a\0b", format: "qcow2" })).toThrow(/without NUL/);
    expect(() => qcow2Layout(GiB, { file: "", format: "qcow2" })).toThrow(/1–1023 bytes/);
  });
});
