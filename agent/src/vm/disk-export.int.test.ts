// Disk export of a stopped VM with real qemu-img (no guest needs to run): the copy is a standalone
// qcow2 with the overlay's and its backing image's contents, lives in the agent's private
// exports dir and is gone after cleanup(); exports an earlier agent left behind are removed; an
// export that would not fit is refused before anything is written. Exports of snapshots and of
// running VMs: snapshots.int.test.ts.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, statSync, utimesSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { Arch } from "../../../lib/arch";
import { binaries, findFixture, hasQemuImg, kernelSpec, vmRig } from "../testing/vm-rig";

const rig = vmRig();
const hasQemuIo = spawnSync("qemu-io", ["--version"]).status === 0;
// A bootable fixture disk makes the VM's overlay have a backing file (it is never started here).
const arch: Arch | undefined = (["x86_64", "aarch64"] as const).find((a) => binaries[a] && findFixture(a)?.disk);
const skip = !hasQemuImg || !hasQemuIo ? "qemu-img/qemu-io not installed" : !arch ? "no fixture disk" : null;

function info(file: string): Record<string, unknown> {
  return JSON.parse(execFileSync("qemu-img", ["info", "--output=json", file], { encoding: "utf8" })) as Record<
    string,
    unknown
  >;
}

describe.skipIf(skip !== null)(`disk export${skip ? ` (skipped: ${skip})` : ""}`, () => {
  const fx = arch ? findFixture(arch) : null;
  const manager = () => rig.makeManager({}, { [arch!]: { disk: fx!.disk } });
  const stoppedDiskVm = (diskGb: number) =>
    kernelSpec(arch!, {
      diskGb,
      powerState: "stopped",
      boot: { type: "disk", imageId: `disk-${arch}`, format: fx!.diskFormat ?? "qcow2", firmware: "uefi" },
    });

  it("flattens a stopped VM's overlay and its backing image into one qcow2, removed by cleanup()", async () => {
    const mgr = manager();
    const id = "export-a";
    await mgr.apply(id, stoppedDiskVm(1));
    const disk = path.join(rig.stateDir, "vms", id, "disk.qcow2");
    expect(info(disk)["backing-filename"]).toBe(fx!.disk);
    execFileSync("qemu-io", ["-f", "qcow2", "-c", "write -P 0x33 300M 1M", disk]);

    // An export an earlier agent left behind (older than a day) goes; a recent one stays.
    const exportsDir = path.join(rig.stateDir, "exports");
    mkdirSync(path.join(exportsDir, "old-leftover"), { recursive: true });
    mkdirSync(path.join(exportsDir, "recent-stream"));
    const twoDaysAgo = new Date(Date.now() - 48 * 3600_000);
    utimesSync(path.join(exportsDir, "old-leftover"), twoDaysAgo, twoDaysAgo);

    const ex = await mgr.exportDisk(id, {});
    try {
      expect(path.dirname(path.dirname(ex.path))).toBe(exportsDir);
      expect(path.basename(path.dirname(ex.path))).toMatch(/^export-a-/);
      expect(statSync(exportsDir).mode & 0o777).toBe(0o700);
      expect(statSync(path.dirname(ex.path)).mode & 0o777).toBe(0o700);
      expect(readdirSync(exportsDir).sort()).toEqual([path.basename(path.dirname(ex.path)), "recent-stream"].sort());
      execFileSync("qemu-img", ["check", "-q", "-f", "qcow2", ex.path]);
      const out = info(ex.path);
      expect(out.format).toBe("qcow2");
      expect(out["backing-filename"]).toBeUndefined();
      expect(out["virtual-size"]).toBe(1024 ** 3);
      expect(ex.sizeBytes).toBe(statSync(ex.path).size);
      // Same guest-visible bytes as overlay + backing: the fixture's boot partition and our write.
      expect(spawnSync("qemu-img", ["compare", "-f", "qcow2", "-F", "qcow2", disk, ex.path]).status).toBe(0);
      expect(spawnSync("qemu-img", ["compare", "-f", "qcow2", "-F", "qcow2", fx!.disk!, ex.path]).status).toBe(1);
    } finally {
      await ex.cleanup();
    }
    expect(existsSync(path.dirname(ex.path))).toBe(false);
    expect(readdirSync(exportsDir)).toEqual(["recent-stream"]);
    await expect(mgr.exportDisk(id, { snapshotId: "none" })).rejects.toMatchObject({ code: "not_found" });
    await mgr.delete(id);
  });

  it("refuses an export that might not fit on the agent's file system, before writing anything", async () => {
    const mgr = manager();
    const id = "export-huge";
    await mgr.apply(id, stoppedDiskVm(65536)); // 64 TiB virtual, a few KiB on disk
    const before = readdirSync(path.join(rig.stateDir, "exports"));
    await expect(mgr.exportDisk(id, {})).rejects.toMatchObject({
      code: "insufficient_storage",
      message: expect.stringMatching(
        /not enough free space on the agent to export VM export-huge: needs up to 65536\.0 GiB/,
      ),
    });
    expect(readdirSync(path.join(rig.stateDir, "exports"))).toEqual(before);
    await mgr.delete(id);
  });
});
