import { test, expect, type APIRequestContext } from "@playwright/test";
import { adminApi, startMixedFleet, waitForAgentsOnline, type Fleet } from "./console-helpers";
import { storageStateFor } from "./helpers";
import {
  createDemoVm,
  deleteVmsNamed,
  expectRunsOnlyOn,
  getVm,
  guestMark,
  guestUptime,
  json,
  lastCount,
  onlyFleetHosts,
  retireExtraHosts,
  startGuestCounter,
  taskIdOf,
  waitRunning,
  waitVmTask,
  type Arch,
} from "./mobility-helpers";
import { SerialShell } from "./serial-shell";
import type { MigrationPreview } from "../lib/schemas/migration";

// Live migration on the real fleet (issue 14, "Must hold"): two agents per architecture on this
// machine (POLYARCH_FLEET=x86_64:2,aarch64:2). One running busybox guest per arch counts on its
// serial console; the migration preview lists the other arch's hosts as refused with the reason
// before anything is tried, and POST migrate to such a host answers 409 with it. Then each guest
// live-migrates to the other host of its arch: its counter goes on, /proc/uptime goes on and the
// mark in its tmpfs is still there (no reboot), its QEMU runs under the target agent's state dir
// (pid file + argv) and the source agent has neither a QEMU nor a directory of it.
let fleet: Fleet;
let admin: APIRequestContext;
let restoreHosts: (() => Promise<void>) | null = null;
const PREFIX = "e2e-mig-";
type Guest = { arch: Arch; tag: string; vmId?: string; hostId?: string; shell?: SerialShell };
const guests: Guest[] = [
  { arch: "aarch64", tag: "a64" },
  { arch: "x86_64", tag: "x86" },
];
/** The reason that names both architectures (e.g. "arch x86_64 ≠ aarch64: …"). */
const archReason = (reasons: string[]) => reasons.find((r) => r.includes("x86_64") && r.includes("aarch64"));

test.describe.configure({ mode: "serial" });
test.setTimeout(600_000);

test.beforeAll(async () => {
  test.setTimeout(600_000);
  fleet = await startMixedFleet({ x86_64: 2, aarch64: 2 });
  admin = await adminApi();
  await waitForAgentsOnline(admin, fleet);
  restoreHosts = await onlyFleetHosts(admin, fleet);
  await deleteVmsNamed(admin, PREFIX);
});

test.afterAll(async () => {
  for (const g of guests) g.shell?.close();
  if (admin) await deleteVmsNamed(admin, PREFIX).catch((e) => console.log(`[migration] cleanup: ${String(e)}`));
  await restoreHosts?.().catch(() => {});
  if (admin && fleet) await retireExtraHosts(admin, fleet).catch(() => {});
  await fleet?.stop();
  await admin?.dispose();
});

test("an aarch64 and an x86_64 guest boot on the fleet and count on their serial consoles", async () => {
  const t0 = Date.now();
  for (const g of guests) g.vmId = await createDemoVm(admin, { name: `${PREFIX}${g.tag}`, arch: g.arch });
  for (const g of guests) {
    const vm = await waitRunning(admin, g.vmId!);
    expect(vm.host?.arch).toBe(g.arch);
    g.hostId = vm.host!.id;
    expect(vm.machineType, "machine type pinned at create").toBeTruthy();
    g.shell = await SerialShell.open(admin, g.vmId!);
    await g.shell.waitFor(new RegExp(`POLYARCH-BOOT-OK arch=${g.arch}`), 0, 180_000, `${g.arch} booted`);
    await g.shell.shellReady(g.tag);
    await startGuestCounter(g.shell, g.tag);
    await g.shell.waitFor(new RegExp(`COUNT-${g.tag}-3\\b`), 0, 60_000, `${g.tag} counting`);
    expectRunsOnlyOn(fleet, g.vmId!, g.hostId);
  }
  console.log(`[migration] both guests counting after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
});

test("the preview refuses the other arch's hosts with the reason before the click; migrating there is 409", async ({
  browser,
}) => {
  const g = guests.find((x) => x.arch === "aarch64")!;
  const preview = await json<MigrationPreview>(await admin.get(`/api/v1/vms/${g.vmId}/migration-preview`), 200);
  expect(preview).toMatchObject({ vmId: g.vmId, arch: "aarch64", migrationMode: "live", blocked: null });
  const mine = new Set(fleet.agents.map((a) => a.hostId));
  const otherArch = preview.hosts.filter((h) => mine.has(h.id) && h.arch === "x86_64");
  expect(otherArch.map((h) => h.id).sort()).toEqual(
    fleet.agents
      .filter((a) => a.arch === "x86_64")
      .map((a) => a.hostId)
      .sort(),
  );
  for (const h of otherArch) {
    expect(h.ok, `${h.name}: ${JSON.stringify(h)}`).toBe(false);
    expect(archReason(h.reasons), `${h.name}: ${h.reasons.join("; ")}`).toBeTruthy();
  }
  const sameArch = preview.hosts.find((h) => mine.has(h.id) && h.arch === "aarch64" && !h.current);
  expect(sameArch?.ok, JSON.stringify(sameArch)).toBe(true);
  expect(preview.hosts.find((h) => h.current)?.id).toBe(g.hostId);

  const target = otherArch[0]!;
  const refused = await admin.post(`/api/v1/vms/${g.vmId}/migrate`, { data: { hostId: target.id, live: true } });
  const body = await refused.text();
  expect(refused.status(), body).toBe(409);
  expect(body).toContain(archReason(target.reasons)!);
  const after = await getVm(admin, g.vmId!);
  expect(after).toMatchObject({ status: "running", host: { id: g.hostId }, migratingToHostId: null });

  // The VM page shows the same verdict per host (components/vm-migration.tsx).
  const ctx = await browser.newContext({ storageState: storageStateFor("admin") });
  try {
    const page = await ctx.newPage();
    await page.goto(`/vms/${g.vmId}`);
    await expect(page.getByTestId("migration-preview")).toBeVisible({ timeout: 30_000 });
    await expect(page.getByTestId(`migration-row-${target.name}`)).toContainText(archReason(target.reasons)!);
    await expect(page.getByTestId(`migration-row-${sameArch!.name}`)).toBeVisible();
  } finally {
    await ctx.close();
  }
});

/**
 * The guest's counter (one line a second) goes on past `countBefore` on the target. Seen once in CI
 * (QEMU 7.2, aarch64 guest under TCG on a loaded machine): after the switch-over the console stayed
 * silent for 60 s while the target QEMU ran (RESUME logged). After 20 s of silence it gets an empty
 * line, as a person at the console would type, and says so in the log; a guest that is really stuck
 * stays silent and fails here, with what the console showed.
 */
async function countsOnAfterMove(g: Guest, countBefore: number): Promise<void> {
  const shell = g.shell!;
  const advanced = (ms: number) =>
    expect
      .poll(() => lastCount(shell, g.tag), { timeout: ms })
      .toBeGreaterThan(countBefore + 2)
      .then(
        () => true,
        () => false,
      );
  if (await advanced(20_000)) return;
  console.log(`[migration] ${g.tag}: no new count on the console 20 s after the move; sending an empty line`);
  shell.nudge();
  if (await advanced(40_000)) return;
  throw new Error(
    `${g.tag} does not count on after the move (last seen ${countBefore}); console:\n${shell.text.slice(-1500)}`,
  );
}

test("both guests live-migrate to the other host of their arch without a reboot; the source keeps nothing", async () => {
  for (const g of guests) {
    const source = g.hostId!;
    const target = fleet.agents.find((a) => a.arch === g.arch && a.hostId !== source)!;
    const before = await getVm(admin, g.vmId!);
    const upBefore = await guestUptime(g.shell!, `${g.tag}U1`);
    const countBefore = lastCount(g.shell!, g.tag);
    expect(countBefore).toBeGreaterThan(0);

    const taskId = await taskIdOf(
      await admin.post(`/api/v1/vms/${g.vmId}/migrate`, { data: { hostId: target.hostId, live: true } }),
    );
    const task = await waitVmTask(admin, g.vmId!, taskId, 480_000);
    expect(task.status, `${g.arch} migration: ${task.error}`).toBe("succeeded");
    console.log(
      `[migration] ${g.arch} ${before.host?.name} -> ${target.machineId}: total ${task.result?.totalMs} ms, ` +
        `downtime ${task.result?.downtimeMs} ms, ${task.result?.bytes} bytes`,
    );
    expect(task.result).toMatchObject({ mode: "live", fromHostId: source, toHostId: target.hostId });

    const vm = await getVm(admin, g.vmId!);
    expect(vm).toMatchObject({ status: "running", host: { id: target.hostId }, migratingToHostId: null });
    expect(vm.generation).toBeGreaterThan(before.generation);
    // Its QEMU runs under the target agent (pid file + argv), and the source has no QEMU and no directory left.
    await expect(() => expectRunsOnlyOn(fleet, g.vmId!, target.hostId!)).toPass({ timeout: 30_000 });

    // The guest itself: the counter goes on past what we saw, uptime continues, the tmpfs mark is there.
    g.shell!.close();
    g.shell = await SerialShell.open(admin, g.vmId!);
    await countsOnAfterMove(g, countBefore);
    await g.shell.shellReady(`${g.tag}M`);
    expect(await guestUptime(g.shell, `${g.tag}U2`)).toBeGreaterThan(upBefore);
    expect(await guestMark(g.shell, `${g.tag}K`)).toBe(`alive-${g.tag}`);
    g.hostId = target.hostId!;
  }
});
