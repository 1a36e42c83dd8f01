// Snapshots of a VM's root disk with real QEMU under TCG (fixtures and bookkeeping:
// testing/vm-rig.ts). One guest per arch serves all steps: x86_64 q35 boots the kernel fixture;
// aarch64 virt boots the fixture disk through AAVMF, so its raw UEFI vars pflash is there and must
// not stand in the way of a memory snapshot. The guest writes markers to /dev/vda (at 512 MiB,
// past the fixture's partition) and to its RAM (/pa-state) through the serial console.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ARCHES, type Arch, qemuBinaryFor } from "../../../lib/arch";
import type { VmSpecInput } from "../../../lib/schemas/agent-api";
import { binaries, findFixture, firmware, hasQemuImg, kernelSpec, vmRig, waitFor } from "../testing/vm-rig";
import type { VmManager } from "./manager";

const rig = vmRig();
const hasQemuIo = spawnSync("qemu-io", ["--version"]).status === 0;
const MARK_SECTOR = 1_048_576; // 512 MiB
const MARK_OFFSET = "512M";

/** Types on the guest's serial console (QEMU's chardev socket server; one client at a time). */
function typeOn(sock: string, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection(sock);
    const timer = setTimeout(() => {
      s.destroy();
      resolve();
    }, 5_000);
    s.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.on("data", () => {}); // QEMU mirrors the console to the client: drain it
    s.on("connect", () => s.end(text));
    s.on("close", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Runs a shell line in the guest and returns what it printed between `<label>=[` and `]`. */
async function guestSays(mgr: VmManager, id: string, label: string, expr: string): Promise<string> {
  const sock = (await mgr.consolePaths(id)).serialSocket;
  // The tty echoes the command; only the output has `label=[` followed by plain letters.
  const re = new RegExp(`${label}=\\[([A-Za-z0-9-]*)\\]`);
  await typeOn(sock, `echo "${label}=[${expr}]"\n`);
  return (await waitFor(`${label} on the console`, () => re.exec(rig.serialLog(id)), 60_000, 200))[1]!;
}

const readMark = `$(dd if=/dev/vda bs=512 skip=${MARK_SECTOR} count=1 2>/dev/null | tr -cd A-Z)`;
const writeMark = (m: string) => `$(printf ${m} | dd of=/dev/vda bs=512 seek=${MARK_SECTOR} conv=fsync 2>/dev/null)ok`;

function qemuIo(file: string, cmd: string, readOnly = true): string {
  const args = ["-f", "qcow2", ...(readOnly ? ["-r", "-U"] : []), "-c", cmd, file];
  return execFileSync("qemu-io", args, { encoding: "utf8" });
}
/** qemu-img compare: true when the guest-visible contents are the same. */
function sameContents(a: string, b: string): boolean {
  const r = spawnSync("qemu-img", ["compare", "-U", "-f", "qcow2", "-F", "qcow2", a, b], { encoding: "utf8" });
  if (r.status !== 0 && r.status !== 1) throw new Error(`qemu-img compare failed: ${r.stderr}`);
  return r.status === 0;
}
function tagsIn(disk: string): string[] {
  const info = JSON.parse(execFileSync("qemu-img", ["info", "-U", "--output=json", disk], { encoding: "utf8" })) as {
    snapshots?: Array<{ name: string }>;
  };
  return (info.snapshots ?? []).map((s) => s.name);
}

for (const arch of ARCHES) {
  const fx = findFixture(arch);
  const diskBoot = arch === "aarch64";
  const missing = !binaries[arch]
    ? `${qemuBinaryFor(arch)} not installed`
    : !hasQemuImg || !hasQemuIo
      ? "qemu-img/qemu-io not installed"
      : !fx || (diskBoot && !fx.disk)
        ? `no boot fixture for ${arch} (run scripts/fixtures/build.sh)`
        : diskBoot && (!firmware["aarch64-code"] || !firmware["aarch64-vars"])
          ? "AAVMF not installed"
          : null;

  describe.skipIf(missing !== null)(
    `snapshots, ${arch} guest under TCG${missing ? ` (skipped: ${missing})` : ""}`,
    () => {
      const id = `snap-${arch.replace("_", "-")}`;
      const spec = (over: Partial<VmSpecInput> = {}): VmSpecInput =>
        diskBoot
          ? kernelSpec(arch, {
              boot: { type: "disk", imageId: `disk-${arch}`, format: fx!.diskFormat ?? "qcow2", firmware: "uefi" },
              ...over,
            })
          : kernelSpec(arch, over);
      const manager = () => rig.makeManager({}, diskBoot ? { [arch as Arch]: { disk: fx!.disk } } : {});
      const disk = () => path.join(rig.stateDir, "vms", id, "disk.qcow2");
      const exportsDir = () => path.join(rig.stateDir, "exports");

      it("running: disk-only and memory snapshots; a memory revert brings back RAM and disk", async () => {
        const mgr = manager();
        const created = await mgr.apply(id, spec());
        expect(created.status.powerState).toBe("running");
        const pid = created.status.pid!;
        await waitFor(`${arch} marker`, () => rig.serialLog(id).includes(fx!.marker), 240_000, 250);
        if (diskBoot)
          expect(readFileSync(path.join(rig.stateDir, "vms", id, "qemu.argv.json"), "utf8")).toContain("if=pflash");
        expect(await guestSays(mgr, id, "W0", "$(echo one > /pa-state)ok")).toBe("ok");

        expect(await mgr.createSnapshot(id, { id: "clean", memory: false })).toMatchObject({
          id: "clean",
          memory: false,
          vmStateBytes: 0,
        });
        expect(await guestSays(mgr, id, "W1", writeMark("PAMARKA"))).toBe("ok");
        const t0 = Date.now();
        const mem = await mgr.createSnapshot(id, { id: "mem", memory: true });
        console.log(`[timing] ${arch}: memory snapshot (256 MiB guest) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        expect(mem).toMatchObject({ id: "mem", memory: true });
        expect(mem.vmStateBytes).toBeGreaterThan(1024 * 1024);
        expect(Date.parse(mem.createdAt)).toBeGreaterThan(t0 - 1000);
        expect((await mgr.get(id)).qmpStatus).toBe("running"); // saving paused the guest only for a while
        await expect(mgr.createSnapshot(id, { id: "mem", memory: false })).rejects.toMatchObject({ code: "conflict" });
        await expect(mgr.createSnapshot(id, { id: "clean", memory: true })).rejects.toMatchObject({ code: "conflict" });
        expect(tagsIn(disk()).sort()).toEqual(["pa-clean", "pa-mem"]);

        // Change RAM and disk, then go back.
        expect(await guestSays(mgr, id, "W2", `$(echo two > /pa-state)${writeMark("PAMARKB")}`)).toBe("ok");
        expect(await guestSays(mgr, id, "R0", `$(cat /pa-state)${readMark}`)).toBe("twoPAMARKB");
        const back = await mgr.revertSnapshot(id, "mem");
        expect(back).toMatchObject({ powerState: "running", qmpStatus: "running", pid }); // same QEMU, resumed
        expect(await guestSays(mgr, id, "R1", `$(cat /pa-state)${readMark}`)).toBe("onePAMARKA");

        const list = await mgr.snapshots(id);
        expect(list.map((s) => [s.id, s.memory])).toEqual([
          ["clean", false],
          ["mem", true],
        ]);

        // Export: a snapshot while running, the live disk only when stopped.
        await expect(mgr.exportDisk(id, {})).rejects.toMatchObject({ code: "conflict" });
        await expect(mgr.exportDisk(id, { snapshotId: "nope" })).rejects.toMatchObject({ code: "not_found" });
        const ex = await mgr.exportDisk(id, { snapshotId: "mem" });
        try {
          expect(path.dirname(path.dirname(ex.path))).toBe(exportsDir());
          execFileSync("qemu-img", ["check", "-q", "-f", "qcow2", ex.path]);
          const info = JSON.parse(execFileSync("qemu-img", ["info", "--output=json", ex.path], { encoding: "utf8" }));
          expect(info).toMatchObject({ format: "qcow2" });
          expect(info["backing-filename"]).toBeUndefined(); // flattened
          expect(info.snapshots).toBeUndefined();
          expect(ex.sizeBytes).toBeGreaterThan(0);
          expect(qemuIo(ex.path, `read -v ${MARK_OFFSET} 16`)).toContain("PAMARKA");
        } finally {
          await ex.cleanup();
        }
        expect(existsSync(ex.path)).toBe(false);

        // Disk-only revert of a running VM: powered off, reverted, started again.
        const again = await mgr.revertSnapshot(id, "clean");
        expect(again.powerState).toBe("running");
        expect(again.pid).not.toBe(pid);
        expect((await mgr.action(id, "poweroff")).powerState).toBe("shutoff");
        expect(qemuIo(disk(), `read -v ${MARK_OFFSET} 16`)).not.toContain("PAMARK");
      }, 600_000);

      it("stopped: snapshots with qemu-img; the export is a flattened qcow2 with the snapshot's contents", async () => {
        const mgr = manager();
        expect((await mgr.get(id)).powerState).toBe("shutoff");
        await expect(mgr.createSnapshot(id, { id: "live", memory: true })).rejects.toThrow(
          "a memory snapshot needs a running VM",
        );
        expect(await mgr.createSnapshot(id, { id: "cold", memory: false })).toMatchObject({
          id: "cold",
          memory: false,
        });
        qemuIo(disk(), `write -P 0x5a ${MARK_OFFSET} 64k`, false);

        const now = await mgr.exportDisk(id, {});
        const cold = await mgr.exportDisk(id, { snapshotId: "cold" });
        try {
          for (const f of [now.path, cold.path]) execFileSync("qemu-img", ["check", "-q", "-f", "qcow2", f]);
          expect(sameContents(now.path, disk())).toBe(true);
          expect(sameContents(cold.path, now.path)).toBe(false);
          expect(qemuIo(cold.path, `read -P 0 ${MARK_OFFSET} 64k`)).not.toMatch(/verification failed/i);
          expect(qemuIo(now.path, `read -P 0x5a ${MARK_OFFSET} 64k`)).not.toMatch(/verification failed/i);

          const st = await mgr.revertSnapshot(id, "cold");
          expect(st.powerState).toBe("shutoff"); // a stopped VM stays stopped
          expect(sameContents(disk(), cold.path)).toBe(true); // the export equals the snapshot
        } finally {
          await now.cleanup();
          await cold.cleanup();
        }
        expect(readdirSync(exportsDir())).toEqual([]);

        // A memory snapshot only loads into the same hardware.
        await mgr.apply(id, spec({ memoryMb: 320, powerState: "stopped" }));
        await expect(mgr.revertSnapshot(id, "mem")).rejects.toThrow(/256 MiB.*now has 320 MiB/);
        await mgr.apply(id, spec({ powerState: "stopped" }));

        await expect(mgr.revertSnapshot(id, "nope")).rejects.toMatchObject({ code: "not_found" });
        await expect(mgr.deleteSnapshot(id, "nope")).rejects.toMatchObject({ code: "not_found" });
        await expect(mgr.createSnapshot(id, { id: "../x", memory: false })).rejects.toMatchObject({ code: "invalid" });
        await mgr.deleteSnapshot(id, "cold");
        expect(tagsIn(disk()).sort()).toEqual(["pa-clean", "pa-mem"]);
        expect((await mgr.snapshots(id)).map((s) => s.id)).toEqual(["clean", "mem"]);
      }, 300_000);

      it("a memory revert of a stopped VM starts it where the snapshot was; deletes while running", async () => {
        const mgr = manager();
        expect((await mgr.get(id)).powerState).toBe("shutoff");
        const st = await mgr.revertSnapshot(id, "mem");
        expect(st).toMatchObject({ powerState: "running", qmpStatus: "running" });
        expect((await mgr.getSpec(id))?.powerState).toBe("running");
        expect(await guestSays(mgr, id, "R2", `$(cat /pa-state)${readMark}`)).toBe("onePAMARKA");

        await mgr.deleteSnapshot(id, "clean"); // QMP, disk-only
        await mgr.deleteSnapshot(id, "mem"); // QMP, with its RAM image
        expect(await mgr.snapshots(id)).toEqual([]);
        expect(tagsIn(disk())).toEqual([]);
        const meta = JSON.parse(readFileSync(path.join(rig.stateDir, "vms", id, "snapshots.json"), "utf8"));
        expect(meta.snapshots).toEqual({});
        await mgr.delete(id);
      }, 300_000);
    },
  );
}
