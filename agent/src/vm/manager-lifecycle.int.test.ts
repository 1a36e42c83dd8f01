// VmManager lifecycle with real QEMU under TCG (fixtures and bookkeeping: testing/vm-rig.ts): per
// guest arch, boot to the marker, re-attach after an agent restart, ACPI stop, start/reboot/poweroff,
// PUTs that converge and delete; and a forced stop when the guest ignores ACPI.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ARCHES, type Arch, qemuBinaryFor } from "../../../lib/arch";
import { QmpClient } from "../qemu";
import {
  alive,
  binaries,
  findFixture,
  hasQemuImg,
  hostArch,
  kernelSpec,
  pidsUsing,
  vmRig,
  waitFor,
} from "../testing/vm-rig";
import type { VmManager } from "./manager";

const rig = vmRig();
const { logs, makeManager, serialLog } = rig;

// ---- full lifecycle per arch -----------------------------------------------------------------

for (const arch of ARCHES) {
  const fx = findFixture(arch);
  const missing = !binaries[arch]
    ? `${qemuBinaryFor(arch)} not installed`
    : !hasQemuImg
      ? "qemu-img not installed"
      : !fx
        ? `no boot fixture for ${arch} (run scripts/fixtures/build.sh)`
        : null;

  describe.skipIf(missing !== null)(
    `VmManager lifecycle, ${arch} guest under TCG${missing ? ` (skipped: ${missing})` : ""}`,
    () => {
      const id = `life-${arch.replace("_", "-")}`;
      let firstPid = 0;

      it("boots a kernel-boot guest to its marker and reports it running", async () => {
        const mgr = makeManager();
        await mgr.init();
        const t0 = Date.now();
        const res = await mgr.apply(id, kernelSpec(arch));
        expect(res.created).toBe(true);
        expect(res.status.powerState).toBe("running");
        // ADR 003: only a foreign arch is "emulated"; the host's own arch without KVM is native TCG.
        expect(res.status.emulated).toBe(arch !== hostArch);
        expect(res.status.accel).toBe("tcg");
        firstPid = res.status.pid!;
        expect(firstPid).toBeGreaterThan(1);
        await waitFor(`${arch} marker`, () => serialLog(id).includes(fx!.marker), 90_000, 200);
        const bootMs = Date.now() - t0;
        console.log(`[timing] ${arch}: apply -> marker on serial console in ${(bootMs / 1000).toFixed(1)} s`);

        const list = await mgr.list();
        expect(list).toHaveLength(1);
        expect(list[0]).toMatchObject({
          id,
          arch,
          powerState: "running",
          qmpStatus: "running",
          pid: firstPid,
          vcpus: 1,
          memoryMb: 256,
        });
        expect(list[0]!.rssMb).toBeGreaterThan(10);
        // Per-VM files where the contract says
        const dir = path.join(rig.stateDir, "vms", id);
        for (const f of [
          "spec.json",
          "state.json",
          "qemu.pid",
          "qmp.sock",
          "serial.sock",
          "serial.log",
          "disk.qcow2",
        ]) {
          expect(existsSync(path.join(dir, f)), f).toBe(true);
        }
        // Detached: its own session, not in the agent's process group, stdio not on the agent.
        const stat = readFileSync(`/proc/${firstPid}/stat`, "utf8")
          .slice(readFileSync(`/proc/${firstPid}/stat`, "utf8").lastIndexOf(")") + 2)
          .split(" ");
        const [pgrp, session] = [Number(stat[2]), Number(stat[3])];
        expect(session).toBe(firstPid);
        expect(pgrp).toBe(firstPid);
        expect(readFileSync(`/proc/${firstPid}/cmdline`, "utf8")).not.toContain("-daemonize");

        // Same spec again: nothing new.
        const again = await mgr.apply(id, kernelSpec(arch));
        expect(again).toMatchObject({ created: false, changed: false });
        expect(again.status.pid).toBe(firstPid);
        expect(pidsUsing([rig.stateDir])).toEqual([firstPid]);
        await mgr.close(); // detach, keep running (the next test re-attaches)
        expect(alive(firstPid)).toBe(true);
        rig.handOver();
      });

      it("a new manager (agent restart) re-attaches without a second QEMU", async () => {
        expect(alive(firstPid)).toBe(true);
        const mgr = makeManager();
        await mgr.init();
        const st = await mgr.get(id);
        expect(st).toMatchObject({ powerState: "running", qmpStatus: "running", pid: firstPid });
        // PUT of the same spec and a start action after restart must not spawn anything.
        expect((await mgr.apply(id, kernelSpec(arch))).changed).toBe(false);
        expect((await mgr.action(id, "start")).pid).toBe(firstPid);
        expect(pidsUsing([rig.stateDir])).toEqual([firstPid]);
        rig.handOver(); // the next test stops it
      });

      it("stop = ACPI power button: the guest powers itself off", async () => {
        const mgr = makeManager();
        await mgr.init();
        const t0 = Date.now();
        const st = await mgr.action(id, "stop");
        const ms = Date.now() - t0;
        console.log(`[timing] ${arch}: ACPI stop took ${(ms / 1000).toFixed(1)} s`);
        expect(st.powerState).toBe("shutoff");
        expect(alive(firstPid)).toBe(false);
        expect(logs.some((l) => l.msg.includes("forcing") && l.ctx?.id === id)).toBe(false); // not the forced fallback
        if (fx!.powerLine) expect(serialLog(id)).toContain(fx!.powerLine); // the guest saw the button
        expect(serialLog(id)).toMatch(/reboot: Power down/); // and its kernel powered off
        expect(existsSync(path.join(rig.stateDir, "vms", id, "qemu.pid"))).toBe(false);
        expect((await mgr.getSpec(id))?.powerState).toBe("stopped");
      });

      it("start boots again; reboot resets; poweroff is immediate", async () => {
        const mgr = makeManager();
        await mgr.init();
        expect((await mgr.get(id)).powerState).toBe("shutoff");
        const st = await mgr.action(id, "start");
        expect(st.powerState).toBe("running");
        expect(st.pid).not.toBe(firstPid);
        await waitFor(`${arch} marker after start`, () => serialLog(id).includes(fx!.marker), 90_000, 200);
        expect(existsSync(path.join(rig.stateDir, "vms", id, "serial.log.1"))).toBe(true); // previous boot kept

        const before = serialLog(id).split(fx!.marker).length - 1;
        await mgr.action(id, "reboot");
        await waitFor(
          `${arch} marker after reboot`,
          () => serialLog(id).split(fx!.marker).length - 1 > before,
          90_000,
          200,
        );
        expect((await mgr.get(id)).pid).toBe(st.pid); // same QEMU, guest reset

        const t0 = Date.now();
        const off = await mgr.action(id, "poweroff");
        expect(off.powerState).toBe("shutoff");
        expect(Date.now() - t0).toBeLessThan(10_000);
        expect(alive(st.pid!)).toBe(false);
        expect(pidsUsing([rig.stateDir])).toEqual([]);
      });

      it("PUT with powerState changes converges; delete removes process and files", async () => {
        const mgr = makeManager();
        await mgr.init();
        const up = await mgr.apply(id, kernelSpec(arch, { powerState: "running", diskGb: 2 }));
        expect(up).toMatchObject({ created: false, changed: true });
        expect(up.status.powerState).toBe("running");
        const pid = up.status.pid!;
        // Changing memory while running is refused, not silently ignored.
        await expect(mgr.apply(id, kernelSpec(arch, { memoryMb: 192, diskGb: 2 }))).rejects.toMatchObject({
          code: "conflict",
        });
        // Growing the disk while running goes through QMP block_resize.
        expect((await mgr.apply(id, kernelSpec(arch, { diskGb: 3 }))).status.pid).toBe(pid);
        const info = JSON.parse(
          execFileSync("qemu-img", ["info", "-U", "--output=json", path.join(rig.stateDir, "vms", id, "disk.qcow2")], {
            encoding: "utf8",
          }),
        ) as Record<string, unknown>;
        expect(info["virtual-size"]).toBe(3 * 1024 ** 3);
        await expect(mgr.apply(id, kernelSpec(arch, { diskGb: 1 }))).rejects.toMatchObject({ code: "conflict" });
        await mgr.delete(id);
        expect(alive(pid)).toBe(false);
        expect(existsSync(path.join(rig.stateDir, "vms", id))).toBe(false);
        expect(await mgr.list()).toEqual([]);
        expect(pidsUsing([rig.stateDir])).toEqual([]);
      });
    },
  );
}

// ---- forced stop (no need to wait for a guest OS) -------------------------------------------------

const quickArch: Arch | undefined = ARCHES.find((a) => binaries[a] && findFixture(a));

describe.skipIf(!quickArch || !hasQemuImg)(
  `VmManager plumbing${!quickArch ? " (skipped: no qemu/fixture)" : ""}`,
  () => {
    it("stop falls back to a forced quit when the guest ignores ACPI; poweroff preempts a pending stop", async () => {
      // A paused guest cannot answer the power button. QEMU takes one QMP client at a time, so
      // detach the manager, pause through the socket, and let a fresh manager re-attach.
      const id = "stubborn";
      const pauseGuest = async (mgr: VmManager) => {
        const sock = (await mgr.consolePaths(id)).qmpSocket;
        await mgr.close();
        const q = await QmpClient.connect(sock);
        await q.stop();
        await q.close();
      };

      const first = makeManager();
      const pid1 = (await first.apply(id, kernelSpec(quickArch!))).status.pid!;
      await pauseGuest(first);
      const mgr = makeManager({ stopTimeoutMs: 1_500 });
      expect((await mgr.get(id)).powerState).toBe("paused");
      const t0 = Date.now();
      expect((await mgr.action(id, "stop")).powerState).toBe("shutoff");
      expect(Date.now() - t0).toBeGreaterThanOrEqual(1_400);
      expect(logs.some((l) => l.msg.includes("forcing") && l.ctx?.id === id)).toBe(true);
      expect(alive(pid1)).toBe(false);

      // poweroff while a (long) graceful stop is waiting: both finish at once.
      const pid2 = (await mgr.action(id, "start")).pid!;
      await pauseGuest(mgr);
      const slow = makeManager({ stopTimeoutMs: 60_000 });
      const t1 = Date.now();
      const stopping = slow.action(id, "stop");
      await new Promise((r) => setTimeout(r, 500));
      expect((await slow.get(id)).powerState).toBe("stopping");
      expect((await slow.action(id, "poweroff")).powerState).toBe("shutoff");
      expect((await stopping).powerState).toBe("shutoff");
      expect(Date.now() - t1).toBeLessThan(15_000);
      expect(alive(pid2)).toBe(false);
      await slow.delete(id);
    });
  },
);
