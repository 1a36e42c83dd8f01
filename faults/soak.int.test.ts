// A short soak (issue 15; the long one is bench/soak.ts): ~60 lifecycle operations — create, start,
// stop, power-off, reboot, delete of busybox-demo VMs with a NIC — 10 at a time through the console
// API on one x86_64 agent. Every operation must succeed, every invariant must hold with the VMs in
// place, and after deleting them all nothing may be left: no QEMU, tap, OVS port, VM dir, IP, claim.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "../lib/server/platform";
import { fleetQemus, missingBuild, startRig, type Rig } from "../lib/server/testing/fault-rig";
import { SoakDriver, prepareSoak } from "../bench/soak-driver";

const OPS = 60;
const CONCURRENCY = 10;
let rig: Rig | undefined;

describe.skipIf(missingBuild() !== null)("a short soak of lifecycle operations", () => {
  beforeAll(async () => {
    rig = await startRig({ fleet: { x86_64: 1 } });
  }, 240_000);
  afterAll(async () => {
    await rig?.stop();
  }, 120_000);

  it(`${OPS} operations, ${CONCURRENCY} at a time: none fails, nothing leaks`, async () => {
    const setup = await prepareSoak(rig!, ["x86_64"], CONCURRENCY);
    const driver = new SoakDriver(rig!, setup, {
      concurrency: CONCURRENCY,
      arches: ["x86_64"],
      seed: 60,
      armWaitMs: 5_000,
    });
    await driver.run(OPS, "main");
    const kinds = new Map<string, number>();
    for (const r of driver.results) kinds.set(r.kind, (kinds.get(r.kind) ?? 0) + 1);
    console.log(`[soak] ${driver.results.length} operations: ${JSON.stringify(Object.fromEntries(kinds))}`);
    expect(driver.results.filter((r) => !r.ok).map((r) => `${r.kind}: ${r.error}`)).toEqual([]);
    expect(driver.results.length).toBeGreaterThanOrEqual(OPS);
    await rig!.settle();

    await driver.cleanup();
    expect(driver.results.filter((r) => !r.ok).map((r) => `${r.kind}: ${r.error}`)).toEqual([]);
    await rig!.settle();
    expect(await db().vm.count()).toBe(0);
    expect(fleetQemus(rig!.fleet)).toEqual([]);
  }, 300_000);
});
