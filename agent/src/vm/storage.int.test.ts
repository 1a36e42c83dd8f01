// Data volumes and the CD drive with real QEMU under TCG, one kernel-boot guest per arch serving
// every assertion (fixtures and bookkeeping: testing/vm-rig.ts; the guest's shell on the serial
// console: testing/guest-shell.ts): a volume hot-plugged into the running guest appears with its
// serial, keeps its data across detach and re-attach, grows online, cannot be deleted while
// attached; a guest that does not release a volume keeps it (409); an agent restart and a VM
// restart keep its root port; a CD medium is inserted and ejected live. Plus an ISO install VM
// per arch: blank disk, the ISO in cd0, CD first in the boot order.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync, mkdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ARCHES, type Arch, qemuBinaryFor } from "../../../lib/arch";
import { volumeSerial, type VmSpecInput } from "../../../lib/schemas/agent-api";
import { QmpClient } from "../qemu";
import { guestRun } from "../testing/guest-shell";
import { binaries, findFixture, firmware, hasQemuImg, kernelSpec, vmRig, waitFor } from "../testing/vm-rig";
import { which } from "../host";
import { AgentError } from "./errors";
import type { VmManagerOptions } from "./types";

const rig = vmRig();
const isoDir = mkdtempSync(path.join(os.tmpdir(), "pa-iso-"));
rig.extraDirs.push(isoDir);

/** A small ISO per arch (made once): what the CD drive gets. */
function isoFor(arch: Arch): string {
  const file = path.join(isoDir, `cd-${arch}.iso`);
  if (!existsSync(file)) {
    const src = path.join(isoDir, `src-${arch}`);
    mkdirSync(src, { recursive: true });
    writeFileSync(path.join(src, "POLYARCH.TXT"), `polyarch test CD for ${arch}\n`);
    execFileSync("genisoimage", ["-quiet", "-V", "PACD", "-o", file, src]);
  }
  return file;
}

/** Boot media: the kernel fixture; ids "iso-<arch>" are the test ISO. */
function resolver(arch: Arch): VmManagerOptions["resolveImage"] {
  return async (ref) => {
    if (ref.type === "kernel") {
      const fx = findFixture(arch)!;
      return { kernel: fx.kernel, initrd: fx.initrd };
    }
    if (ref.imageId === `iso-${arch}`) return { disk: isoFor(arch) };
    throw new AgentError("unavailable", `no image ${ref.imageId} in this test`);
  };
}

/** QEMU takes one QMP client at a time: the manager must be closed while the test asks. */
async function withQmp<T>(qmpSocket: string, fn: (q: QmpClient) => Promise<T>): Promise<T> {
  const q = await QmpClient.connect(qmpSocket);
  try {
    return await fn(q);
  } finally {
    await q.close();
  }
}

type BlockInfo = {
  qdev?: string;
  inserted?: { "node-name"?: string; file?: string; ro?: boolean; image?: Record<string, unknown> };
};
const blockOf = (blocks: BlockInfo[], qdev: string) =>
  blocks.find((b) => b.qdev === qdev || b.qdev?.endsWith(`/${qdev}/virtio-backend`));

for (const arch of ARCHES) {
  const fx = findFixture(arch);
  const missing = !binaries[arch]
    ? `${qemuBinaryFor(arch)} not installed`
    : !hasQemuImg
      ? "qemu-img not installed"
      : !which("genisoimage")
        ? "genisoimage not installed"
        : !fx
          ? `no boot fixture for ${arch} (run scripts/fixtures/build.sh)`
          : null;

  describe.skipIf(missing !== null)(
    `volumes and CD media, ${arch} guest under TCG${missing ? ` (skipped: ${missing})` : ""}`,
    () => {
      const a = arch.replace("_", "-");
      const id = `st-${a}`;
      const volId = `data-${a}-0123456789abcdef`; // longer than a serial: the guest sees its first 20 characters
      const serial = volumeSerial(volId);
      const spec = (over: Partial<VmSpecInput> = {}) => kernelSpec(arch, { name: id, ...over });
      const manager = (over: Partial<VmManagerOptions> = {}) =>
        rig.makeManager({ resolveImage: resolver(arch), ...over });
      let paths: { serialSocket: string; serialLog: string; qmpSocket: string };
      const sh = (cmd: string) => guestRun(paths, cmd, 90_000);
      /** "<device> <512-byte sectors>" of the guest's virtio disk with our serial, or "none" */
      const findVolume = [
        "found=none; for d in /sys/block/vd*; do",
        `[ "$(cat $d/serial 2>/dev/null)" = "${serial}" ] && found="\${d##*/} $(cat $d/size)"; done; echo "$found"`,
      ].join(" ");
      /** "<device> <sectors>" once the guest has the volume (hot-plug binds asynchronously) */
      const volumeInGuest = (what: string): Promise<string> =>
        waitFor(
          what,
          async () => {
            const l = (await sh(findVolume))[0] ?? "none";
            return l !== "none" ? l : null;
          },
          30_000,
          500,
        );

      const storyTitle =
        "boots with an empty CD drive and reserved root ports; a hot-plugged volume appears, grows online, keeps its data across detach and re-attach";
      it(storyTitle, async () => {
        const mgr = manager();
        await mgr.init();
        expect((await mgr.putVolume(volId, { sizeGb: 1 })).created).toBe(true);
        const res = await mgr.apply(id, spec());
        expect(res.status.powerState).toBe("running");
        paths = await mgr.consolePaths(id);
        await waitFor(`${arch} marker`, () => rig.serialLog(id).includes(fx!.marker), 120_000, 200);
        const argv = JSON.parse(readFileSync(path.join(rig.stateDir, "vms", id, "qemu.argv.json"), "utf8")) as string[];
        expect(argv.filter((x) => x.startsWith("pcie-root-port"))).toHaveLength(8);
        expect(argv.some((x) => /^(ide|scsi)-cd,id=cd0,/.test(x))).toBe(true);
        expect(await sh(findVolume)).toEqual(["none"]);

        // hot-plug
        const t0 = Date.now();
        const put = await mgr.apply(id, spec({ volumes: [{ id: volId }] }));
        expect(put).toMatchObject({ changed: true, status: { pid: res.status.pid } });
        console.log(`[timing] ${arch}: volume hot-plug (QMP) in ${Date.now() - t0} ms`);
        const [dev, sectors] = (await volumeInGuest("the volume in the guest")).split(" ");
        expect(dev).toMatch(/^vd[b-z]$/);
        expect(Number(sectors)).toBe(1024 ** 3 / 512);
        expect((await mgr.getVolume(volId)).attachedTo).toBe(id);

        // data, then online growth seen by the guest
        expect(await sh(`printf POLYARCH-VOLDATA-${a} > /dev/${dev} && sync && echo written`)).toEqual(["written"]);
        await mgr.putVolume(volId, { sizeGb: 2 });
        await waitFor(
          "the guest to see 2 GiB",
          async () => (await sh(findVolume))[0] === `${dev} ${(2 * 1024 ** 3) / 512}`,
          30_000,
          500,
        );
        expect((await mgr.getVolume(volId)).sizeGb).toBe(2);
        await expect(mgr.putVolume(volId, { sizeGb: 1 })).rejects.toMatchObject({ code: "conflict" });
        await expect(mgr.deleteVolume(volId)).rejects.toMatchObject({
          code: "conflict",
          message: expect.stringMatching(/attached to VM/),
        });

        // detach: the guest releases it (PCIe attention button, ~5 s) and QEMU lets go of the file
        const t1 = Date.now();
        await mgr.apply(id, spec({ volumes: [] }));
        console.log(`[timing] ${arch}: volume unplug (device_del -> DEVICE_DELETED) in ${Date.now() - t1} ms`);
        expect(await sh(findVolume)).toEqual(["none"]);
        const volFile = path.join(rig.stateDir, "volumes", `${volId}.qcow2`);
        // without -U: fails while any QEMU holds the image
        execFileSync("qemu-img", ["info", volFile], { stdio: "ignore" });
        expect((await mgr.getVolume(volId)).attachedTo).toBeNull();

        // re-attach: the data is still there
        await mgr.apply(id, spec({ volumes: [{ id: volId }] }));
        const again = await volumeInGuest("the volume back in the guest");
        const dev2 = again.split(" ")[0]!;
        expect(await sh(`head -c ${`POLYARCH-VOLDATA-${a}`.length} /dev/${dev2}; echo`)).toEqual([
          `POLYARCH-VOLDATA-${a}`,
        ]);
        await mgr.close();
        rig.handOver();
      });

      it("a guest that does not release a volume keeps it (409), and a later detach completes", async () => {
        // Paused vCPUs cannot answer the unplug request.
        await withQmp(paths.qmpSocket, (q) => q.stop());
        const impatient = manager({ unplugTimeoutMs: 2_000 });
        await impatient.init();
        await expect(impatient.apply(id, spec({ volumes: [] }))).rejects.toMatchObject({
          code: "conflict",
          message: expect.stringMatching(/did not release volume .* within 2 s.*stays attached/),
        });
        expect((await impatient.getSpec(id))?.volumes).toEqual([{ id: volId }]);
        await expect(impatient.deleteVolume(volId)).rejects.toMatchObject({ code: "conflict" });
        await impatient.close();
        await withQmp(paths.qmpSocket, (q) => q.cont());

        const mgr = manager();
        await mgr.init();
        await mgr.apply(id, spec({ volumes: [] }));
        expect((await mgr.getSpec(id))?.volumes).toEqual([]);
        expect(await sh(findVolume)).toEqual(["none"]);
        await mgr.apply(id, spec({ volumes: [{ id: volId }] }));
        await mgr.close();
        rig.handOver();
      });

      it("CD media: insert and eject on the running VM (QMP query-block), after an agent restart", async () => {
        const iso = isoFor(arch);
        let mgr = manager();
        await mgr.init();
        await mgr.apply(id, spec({ volumes: [{ id: volId }], cdrom: { imageId: `iso-${arch}` } }));
        expect((await mgr.imageUsers()).get(`iso-${arch}`)?.map((v) => v.id)).toContain(id);
        await mgr.close();
        const inserted = await withQmp(paths.qmpSocket, (q) => q.queryBlock() as Promise<BlockInfo[]>);
        expect(blockOf(inserted, "cd0")?.inserted).toMatchObject({ file: iso, ro: true });
        // the guest reads the medium: the ISO 9660 volume id at byte 32808 (the first read after a
        // change may report the change instead of data: ask again)
        await waitFor(
          "the guest to read the CD's volume id",
          async () =>
            (await sh(`for d in /dev/sr*; do dd if=$d bs=1 skip=32808 count=4 2>/dev/null; echo " $d"; done`)).some(
              (l) => l.startsWith("PACD "),
            ),
          30_000,
          1_000,
        );

        mgr = manager();
        await mgr.init();
        await mgr.apply(id, spec({ volumes: [{ id: volId }], cdrom: null }));
        await mgr.close();
        const ejected = await withQmp(paths.qmpSocket, (q) => q.queryBlock() as Promise<BlockInfo[]>);
        expect(blockOf(ejected, "cd0")).toBeDefined();
        expect(blockOf(ejected, "cd0")?.inserted).toBeUndefined();
        // out of the drive, the ISO is no longer in use by this VM (the image cache may evict it)
        expect((await manager().imageUsers()).get(`iso-${arch}`)?.map((v) => v.id) ?? []).not.toContain(id);
        // a medium that is not available is refused and nothing changes
        mgr = manager();
        await mgr.init();
        await expect(
          mgr.apply(id, spec({ volumes: [{ id: volId }], cdrom: { imageId: "iso-nope" } })),
        ).rejects.toMatchObject({
          code: "unavailable",
        });
        expect((await mgr.getSpec(id))?.cdrom ?? null).toBeNull();
        await mgr.close();
        rig.handOver();
      });

      it("a VM restart puts the volume back on its root port, with its data", async () => {
        const mgr = manager();
        await mgr.init();
        const state = JSON.parse(readFileSync(path.join(rig.stateDir, "vms", id, "state.json"), "utf8")) as {
          volumePorts: Record<string, number>;
        };
        const port = state.volumePorts[volId];
        expect(port).toBeTypeOf("number");
        await mgr.action(id, "poweroff");
        await mgr.action(id, "start");
        const argv = JSON.parse(readFileSync(path.join(rig.stateDir, "vms", id, "qemu.argv.json"), "utf8")) as string[];
        expect(argv).toContain(`virtio-blk-pci,id=vol${port},drive=vol${port},bus=rp${port},serial=${serial}`);
        await waitFor(`${arch} marker after restart`, () => rig.serialLog(id).includes(fx!.marker), 120_000, 200);
        const found = await volumeInGuest("the volume after the restart");
        const dev = found.split(" ")[0]!;
        expect(found).toBe(`${dev} ${(2 * 1024 ** 3) / 512}`);
        expect(await sh(`head -c ${`POLYARCH-VOLDATA-${a}`.length} /dev/${dev}; echo`)).toEqual([
          `POLYARCH-VOLDATA-${a}`,
        ]);
        // deleting the VM keeps the volume; then the volume can go
        await mgr.delete(id);
        expect((await mgr.getVolume(volId)).attachedTo).toBeNull();
        await mgr.deleteVolume(volId);
        expect(existsSync(path.join(rig.stateDir, "volumes", `${volId}.qcow2`))).toBe(false);
      });

      it("an ISO install: blank disk of diskGb, the ISO in cd0, CD first in the boot order", async () => {
        const isoId = `iso-vm-${a}`;
        const mgr = manager();
        await mgr.init();
        const firmwareKind = arch === "aarch64" ? "uefi" : "bios";
        const res = await mgr.apply(isoId, {
          name: isoId,
          arch,
          vcpus: 1,
          memoryMb: 256,
          diskGb: 2,
          boot: { type: "iso", imageId: `iso-${arch}`, firmware: firmwareKind },
          cdrom: { imageId: `iso-${arch}` },
          powerState: "running",
        });
        expect(res.status.powerState).toBe("running");
        const vmPaths = await mgr.consolePaths(isoId);
        const argv = JSON.parse(
          readFileSync(path.join(rig.stateDir, "vms", isoId, "qemu.argv.json"), "utf8"),
        ) as string[];
        expect(argv.some((x) => /^(ide|scsi)-cd,id=cd0,.*drive=cd0-medium,bootindex=0$/.test(x))).toBe(true);
        expect(argv).toContain("virtio-blk-pci,id=vda,drive=disk0,bootindex=1");
        expect(argv).not.toContain("-kernel");
        if (arch === "aarch64") expect(argv.some((x) => x.startsWith("if=pflash,unit=0"))).toBe(true);
        // the image cache may evict an ISO only once it is out of the drive
        expect((await mgr.imageUsers()).get(`iso-${arch}`)?.map((v) => v.id)).toContain(isoId);
        await mgr.close();
        const blocks = await withQmp(vmPaths.qmpSocket, (q) => q.queryBlock() as Promise<BlockInfo[]>);
        expect(blockOf(blocks, "cd0")?.inserted).toMatchObject({ file: isoFor(arch), ro: true });
        const disk = JSON.parse(
          execFileSync(
            "qemu-img",
            ["info", "-U", "--output=json", path.join(rig.stateDir, "vms", isoId, "disk.qcow2")],
            {
              encoding: "utf8",
            },
          ),
        ) as Record<string, unknown>;
        expect(disk["virtual-size"]).toBe(2 * 1024 ** 3);
        expect(disk["backing-filename"]).toBeUndefined();
        if (arch === "aarch64" && firmware["aarch64-code"]) {
          // UEFI tries the CD first (our ISO is not bootable, so it moves on): the boot order is real
          const first = await waitFor(
            "UEFI to try its first boot option",
            () => /BdsDxe: (?:failed to load|loading) Boot\d+ "([^"]+)"/.exec(rig.serialLog(isoId))?.[1],
            120_000,
            500,
          );
          expect(first).toMatch(/CD-ROM/);
        }
      });
    },
  );
}
