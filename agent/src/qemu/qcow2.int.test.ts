// The in-process qcow2 writer against real qemu-img and qemu-io: the same bytes as `qemu-img create`,
// a clean `qemu-img check`, and data that reads back (through to the backing file where nothing was written).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createQcow2, QemuImgError } from "./img";
import { writeQcow2 } from "./qcow2";

function has(bin: string): boolean {
  try {
    execFileSync(bin, ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

const tools = has("qemu-img") && has("qemu-io");
const GiB = 1024 ** 3;
const qemuImg = (...args: string[]) => execFileSync("qemu-img", args, { encoding: "utf8" });
const qemuIo = (file: string, cmd: string) =>
  execFileSync("qemu-io", ["-f", "qcow2", "-c", cmd, file], { encoding: "utf8" });

/** `qemu-img info` without the fields that name the file or depend on its allocation */
function info(file: string): Record<string, unknown> {
  const all = JSON.parse(qemuImg("info", "--output=json", file)) as Record<string, unknown>;
  delete all["filename"];
  delete all["actual-size"];
  return all;
}

describe.skipIf(!tools)(`in-process qcow2${tools ? "" : " (skipped: qemu-img/qemu-io not installed)"}`, () => {
  let tmp: string;
  let rawBase: string;
  let qcowBase: string;
  beforeAll(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), "pa-qcow2-"));
    rawBase = path.join(tmp, "base.raw");
    writeFileSync(rawBase, Buffer.alloc(2 * 1024 * 1024, 0x5a));
    qcowBase = path.join(tmp, "base.qcow2");
    qemuImg("create", "-q", "-f", "qcow2", qcowBase, "1G");
    qemuIo(qcowBase, "write -P 0x33 0 64k");
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  const cases: Array<[string, number, "raw" | "qcow2" | null]> = [
    ["blank 1 GiB", 1 * GiB, null],
    ["blank 1.5 GiB", 1.5 * GiB, null],
    ["blank 4097 GiB (two L1 clusters)", 4097 * GiB, null],
    ["3 GiB over a raw base", 3 * GiB, "raw"],
    ["1 GiB over a qcow2 base", 1 * GiB, "qcow2"],
  ];
  it.each(cases)("%s: byte for byte what qemu-img create writes", async (_name, size, baseFormat) => {
    const base = baseFormat === "raw" ? rawBase : baseFormat === "qcow2" ? qcowBase : null;
    const ours = path.join(tmp, `ours-${size}-${baseFormat}.qcow2`);
    const theirs = path.join(tmp, `theirs-${size}-${baseFormat}.qcow2`);
    await writeQcow2(ours, size, base && baseFormat ? { file: base, format: baseFormat } : undefined);
    qemuImg(
      "create",
      "-q",
      "-f",
      "qcow2",
      ...(base && baseFormat ? ["-b", base, "-F", baseFormat] : []),
      theirs,
      `${size}`,
    );
    expect(info(ours)).toEqual(info(theirs));
    expect(readFileSync(ours).equals(readFileSync(theirs))).toBe(true);
    expect(JSON.parse(qemuImg("check", "--output=json", "-f", "qcow2", ours))).toMatchObject({
      "check-errors": 0,
    });
  });

  it("createQcow2 with a size writes the overlay itself: reads go through to the base, writes stay in the overlay", async () => {
    const ov = path.join(tmp, "ov.qcow2");
    await createQcow2(ov, { base: qcowBase, baseFormat: "qcow2", sizeGb: 2, qemuImg: "/nonexistent/qemu-img" });
    expect(qemuIo(ov, "read -P 0x33 0 64k")).toMatch(/read 65536\/65536 bytes/);
    qemuIo(ov, "write -P 0x77 1M 128k");
    expect(qemuIo(ov, "read -P 0x77 1M 128k")).toMatch(/read 131072\/131072 bytes/);
    expect(qemuIo(qcowBase, "read -P 0 1M 128k")).toMatch(/read 131072\/131072 bytes/);
    const check = JSON.parse(qemuImg("check", "--output=json", "-f", "qcow2", ov)) as Record<string, number>;
    expect(check["check-errors"]).toBe(0);
    expect(check["leaks"] ?? 0).toBe(0);
    expect(check["corruptions"] ?? 0).toBe(0);
  });

  it("refuses a missing backing file, as qemu-img does", async () => {
    const err = await createQcow2(path.join(tmp, "x.qcow2"), {
      base: path.join(tmp, "missing.raw"),
      baseFormat: "raw",
      sizeGb: 1,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QemuImgError);
    expect((err as Error).message).toMatch(/Could not open backing file/);
  });
});
