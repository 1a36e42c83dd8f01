// Why QEMU ended, as the agent reports it (VmStatus.lastExit; the controller's side is
// lib/server/vms/exits.ts): a guest that powers itself off, a QEMU killed from outside, and the
// agent's own stop, which is no surprise and reports nothing. Real QEMU under TCG.
import net from "node:net";
import { describe, expect, it } from "vitest";
import { ARCHES, type Arch } from "../../../lib/arch";
import { binaries, findFixture, hasQemuImg, kernelSpec, vmRig, waitFor } from "../testing/vm-rig";

const rig = vmRig();
const arch: Arch | undefined = ARCHES.find((a) => binaries[a] && findFixture(a));

describe.skipIf(!arch || !hasQemuImg)("the reason QEMU exited", () => {
  it("guest poweroff → guest-shutdown; kill -9 → crashed with the signal; start clears it; a stop reports none", async () => {
    const fx = findFixture(arch!)!;
    const id = "exits";
    const mgr = rig.makeManager();
    const first = await mgr.apply(id, kernelSpec(arch!));
    expect(first.status.lastExit).toBeUndefined();
    await waitFor("boot marker", () => rig.serialLog(id).includes(fx.marker), 90_000, 200);

    // The guest's own shell powers it off (typed on its serial console, as a user would).
    const serial = net.connect((await mgr.consolePaths(id)).serialSocket);
    await new Promise<void>((resolve, reject) => serial.once("connect", resolve).once("error", reject));
    serial.write("\npoweroff -f\n");
    const off = await waitFor(
      "the guest to power off",
      async () => {
        const st = await mgr.get(id);
        return st.powerState === "shutoff" ? st : null;
      },
      60_000,
      200,
    );
    serial.destroy();
    expect(off.lastExit).toMatchObject({ reason: "guest-shutdown", detail: "the guest powered itself off" });

    // Started again: the old reason is gone. Then QEMU is killed from outside (OOM killer, kill -9).
    const again = await mgr.action(id, "start");
    expect(again.lastExit).toBeUndefined();
    process.kill(again.pid!, "SIGKILL");
    const dead = await waitFor(
      "the killed QEMU to be noticed",
      async () => {
        const st = await mgr.get(id);
        return st.powerState === "shutoff" ? st : null;
      },
      30_000,
      100,
    );
    expect(dead.lastExit).toMatchObject({ reason: "crashed", detail: "QEMU exited unexpectedly (killed by SIGKILL)" });

    // Our own power-off is expected: no reason reported.
    await mgr.action(id, "start");
    expect((await mgr.action(id, "poweroff")).lastExit).toBeUndefined();
    await mgr.delete(id);
  });
});
