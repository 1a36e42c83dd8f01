// The guest's own screen on the graphical path, with real QEMU under TCG (issue 13): the fixture
// guest (scripts/fixtures/init.sh) loads its display driver — aarch64 virtio-gpu, x86_64 std VGA
// (bochs-drm) — or finds the firmware's efifb (aarch64 ramfb under UEFI), fills the first rows of
// /dev/fb0 with #d03090 and says POLYARCH-FB-OK. QMP `screendump` then has to show that colour
// across the top rows: what a VNC client sees is the guest's output, not QEMU's "Display output is
// not active" (a guest without the driver leaves exactly that screen, and this test fails).
import path from "node:path";
import { describe, expect, it } from "vitest";
import { type Arch, qemuBinaryFor } from "../../../lib/arch";
import type { Display } from "../../../lib/display";
import type { VmSpecInput } from "../../../lib/schemas/agent-api";
import { QmpClient } from "../qemu";
import { bandShare, GUEST_MARK, GUEST_MARK_ROWS, readPpm, type Screen } from "../testing/screendump";
import { binaries, findFixture, firmware, hasQemuImg, kernelSpec, vmRig, waitFor } from "../testing/vm-rig";

const rig = vmRig();

/** Most frequent colour of the band, for a failure message that says what the screen showed. */
function dominant(s: Screen, rows: number): string {
  const count = new Map<number, number>();
  for (let p = 0; p < Math.min(rows, s.height) * s.width; p++) {
    const c = (s.rgb[p * 3]! << 16) | (s.rgb[p * 3 + 1]! << 8) | s.rgb[p * 3 + 2]!;
    count.set(c, (count.get(c) ?? 0) + 1);
  }
  const [c] = [...count.entries()].sort((a, b) => b[1] - a[1])[0] ?? [0];
  return `#${c.toString(16).padStart(6, "0")}`;
}

interface Case {
  arch: Arch;
  display: Display;
  /** kernel boot of the fixture, or its disk through UEFI (ramfb is set up by the firmware) */
  boot: "kernel" | "uefi-disk";
  /** the fb driver init.sh should report (fb0's name) */
  fb: RegExp;
}
const cases: Case[] = [
  { arch: "aarch64", display: "virtio-gpu", boot: "kernel", fb: /^virtio_gpudrmfb$/ },
  { arch: "x86_64", display: "vga", boot: "kernel", fb: /^bochs-drmdrmfb$/ },
  { arch: "aarch64", display: "ramfb", boot: "uefi-disk", fb: /^EFI_VGA$/ },
];

for (const c of cases) {
  const fx = findFixture(c.arch);
  const skip = !binaries[c.arch]
    ? `${qemuBinaryFor(c.arch)} not installed`
    : !hasQemuImg
      ? "qemu-img not installed"
      : !fx
        ? `no boot fixture for ${c.arch} (run scripts/fixtures/build.sh)`
        : c.boot === "uefi-disk" && (!fx.disk || !firmware[`${c.arch}-code`] || !firmware[`${c.arch}-vars`])
          ? "no fixture disk or UEFI firmware"
          : null;
  const title = `${c.arch} ${c.display} (${c.boot} boot) under TCG${skip ? ` (skipped: ${skip})` : ""}`;
  describe.skipIf(skip !== null)(title, () => {
    it("the display shows the guest's own framebuffer: its mark fills the top rows of a QMP screendump", async () => {
      const id = `gfx-${c.arch.replace("_", "-")}-${c.display}`;
      const images = c.boot === "uefi-disk" ? { [c.arch]: { disk: fx!.disk } } : {};
      const mgr = rig.makeManager({}, images);
      const spec: VmSpecInput =
        c.boot === "kernel"
          ? kernelSpec(c.arch, { name: id, display: c.display })
          : {
              ...kernelSpec(c.arch, { name: id, display: c.display }),
              boot: { type: "disk", imageId: `disk-${c.arch}`, format: fx!.diskFormat ?? "qcow2", firmware: "uefi" },
            };
      const t0 = Date.now();
      const res = await mgr.apply(id, spec);
      expect(res.status.powerState).toBe("running");
      const { qmpSocket } = await mgr.consolePaths(id);
      // BOOT-OK comes after the display work (init.sh waits for it)
      await waitFor(`${c.arch} boot marker`, () => rig.serialLog(id).includes(fx!.marker), 240_000, 250);
      const fbLine = /POLYARCH-FB-OK (\d+)x(\d+) (\d+) fb=(\S*)/.exec(rig.serialLog(id));
      console.log(
        `[timing] ${c.arch} ${c.display}: apply -> boot marker in ${((Date.now() - t0) / 1000).toFixed(1)} s (${fbLine?.[0] ?? "no POLYARCH-FB-OK"})`,
      );
      await mgr.close(); // QEMU takes one QMP client at a time

      const q = await QmpClient.connect(qmpSocket);
      let screen: Screen | null = null;
      let share = 0;
      try {
        const file = path.join(rig.stateDir, `${id}.ppm`);
        // the guest's writes reach the scanout through the driver's damage worker: allow a moment
        await waitFor(
          "the guest's mark on the screen",
          async () => {
            await q.screendump(file);
            screen = readPpm(file);
            share = bandShare(screen, GUEST_MARK, GUEST_MARK_ROWS);
            return share > 0.95;
          },
          10_000,
          500,
        ).catch(() => undefined); // the assertions below say what was seen
      } finally {
        await q.close();
      }
      const s = screen as Screen | null;
      expect(s, "a screendump").not.toBeNull();
      expect(
        share,
        `share of #d03090 in the top ${GUEST_MARK_ROWS} rows of ${s!.width}x${s!.height} (mostly ${dominant(s!, GUEST_MARK_ROWS)})`,
      ).toBeGreaterThan(0.95);
      // ... and not just a stripe of that colour: the rows below the mark are something else
      expect(
        bandShare({ ...s!, rgb: s!.rgb.subarray(s!.width * 3 * GUEST_MARK_ROWS * 2) }, GUEST_MARK, 16),
      ).toBeLessThan(0.5);
      expect(fbLine, "POLYARCH-FB-OK on the serial console").not.toBeNull();
      expect([Number(fbLine![1]), Number(fbLine![2])]).toEqual([s!.width, s!.height]);
      expect(fbLine![4]).toMatch(c.fb);
    }, 300_000); // UEFI firmware under TCG on a loaded 2-core machine
  });
}
