// Heartbeat `evict` (issue 14) with a real QEMU under TCG: a copy older than the controller's
// generation is killed and its directory quarantined under <stateDir>/evicted/ (never deleted);
// an equal or newer copy is left running. Fixtures and QEMU bookkeeping: testing/vm-rig.ts.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { alive, binaries, findFixture, hasQemuImg, hostArch, kernelSpec, vmRig, waitFor } from "../testing/vm-rig";
import { quarantineName } from "./evict";

const rig = vmRig();
const missing = !binaries[hostArch]
  ? "no QEMU for the host arch"
  : !hasQemuImg
    ? "no qemu-img"
    : !findFixture(hostArch);

describe.skipIf(Boolean(missing))("VmManager.evict", () => {
  it("kills and quarantines a copy of a LOWER generation; equal or higher generations and unknown VMs are left alone", async () => {
    const mgr = rig.makeManager();
    await mgr.init();
    const stale = await mgr.apply("ev-old", kernelSpec(hostArch, { name: "ev-old", generation: 2 }));
    const current = await mgr.apply("ev-cur", kernelSpec(hostArch, { name: "ev-cur", generation: 3 }));
    const stalePid = stale.status.pid!;
    const currentPid = current.status.pid!;
    expect([alive(stalePid), alive(currentPid)]).toEqual([true, true]);
    const changes: unknown[] = [];
    mgr.on("change", (c) => changes.push(c));

    // equal and lower generations: nothing happens
    expect(await mgr.evict("ev-cur", 3)).toBeNull();
    expect(await mgr.evict("ev-cur", 1)).toBeNull();
    expect(await mgr.evict("no-such-vm", 9)).toBeNull();
    expect(alive(currentPid)).toBe(true);
    expect(rig.logs.filter((l) => l.msg === "evict ignored")).toHaveLength(3);

    const dest = await mgr.evict("ev-old", 3);
    expect(dest).toMatch(new RegExp(`/evicted/ev-old-g2-\\d{8}T\\d{6}\\.\\d{3}Z$`));
    await waitFor("the stale QEMU to exit", () => !alive(stalePid), 15_000);
    // its files moved, not deleted: the disk overlay, the spec and a note of why
    expect(existsSync(path.join(rig.stateDir, "vms", "ev-old"))).toBe(false);
    expect(readdirSync(dest!)).toEqual(expect.arrayContaining(["disk.qcow2", "spec.json", "evicted.json"]));
    expect(JSON.parse(readFileSync(path.join(dest!, "evicted.json"), "utf8"))).toMatchObject({
      id: "ev-old",
      generation: 2,
      newerGeneration: 3,
    });
    expect(JSON.parse(readFileSync(path.join(dest!, "spec.json"), "utf8"))).toMatchObject({ generation: 2 });
    expect((await mgr.list()).map((v) => v.id)).toEqual(["ev-cur"]);
    expect(changes).toContainEqual({ id: "ev-old", deleted: true });
    // a second evict of the same VM (the next heartbeat) finds nothing to do
    expect(await mgr.evict("ev-old", 3)).toBeNull();
    expect(alive(currentPid)).toBe(true);
  });

  it("names the quarantine <id>-g<generation>-<time> without ':'", () => {
    expect(quarantineName("vm-1", 4, new Date("2026-12-06T05:50:12.345Z"))).toBe("vm-1-g4-20261206T055012.345Z");
  });
});
