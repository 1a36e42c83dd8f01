import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { judgeLease, LeaseKeeper, leaseFileOf, leaseFor, monotonicMs, readLeaseText } from "./lease";

const BOOT = "0b1f8c0e-1111-2222-3333-444455556666";
const text = (deadlineMonoMs: number, bootId: string | null = BOOT) =>
  JSON.stringify({ version: 1, bootId, deadlineMonoMs, fenceAfterMs: 5000, renewedAt: "2026-12-06T05:00:00.000Z" });

describe("lease math", () => {
  it("a lease runs from the heartbeat's send time", () => {
    const l = leaseFor(1_000_000, 15_000, BOOT, new Date("2026-12-06T05:00:00Z"));
    expect(l).toEqual({
      version: 1,
      bootId: BOOT,
      deadlineMonoMs: 1_015_000,
      fenceAfterMs: 15_000,
      renewedAt: "2026-12-06T05:00:00.000Z",
    });
  });

  it("no file = unarmed; before the deadline = valid; at or after it = expired by how much", () => {
    expect(judgeLease(null, 5, BOOT)).toEqual({ state: "unarmed" });
    expect(judgeLease(text(10_000), 9_000, BOOT)).toEqual({ state: "valid", remainingMs: 1000 });
    expect(judgeLease(text(10_000), 10_000, BOOT)).toMatchObject({ state: "expired", lateMs: 0 });
    expect(judgeLease(text(10_000), 10_250, BOOT)).toMatchObject({
      state: "expired",
      lateMs: 250,
      reason: "lease not renewed in time",
    });
  });

  it("a lease from another boot, or one that cannot be read, counts as expired (never as unarmed)", () => {
    expect(judgeLease(text(10_000), 1, "another-boot")).toMatchObject({ state: "expired", reason: /another boot/ });
    expect(judgeLease(text(10_000, null), 1, BOOT)).toMatchObject({ state: "valid" });
    expect(judgeLease("{nope", 1, BOOT)).toMatchObject({ state: "expired", reason: /not JSON/ });
    expect(judgeLease('{"version":2}', 1, BOOT)).toMatchObject({ state: "expired", reason: /invalid/ });
  });

  it("monotonicMs moves forward with the process clock", async () => {
    const a = monotonicMs();
    await new Promise((r) => setTimeout(r, 20));
    expect(monotonicMs()).toBeGreaterThan(a);
  });
});

describe("LeaseKeeper", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pa-lease-"));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("writes the lease atomically (0600, no temp file left) and removes it when the controller grants none", async () => {
    const keeper = new LeaseKeeper(dir, BOOT);
    await keeper.renew(2_000, 3_000);
    const file = leaseFileOf(dir);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(path.dirname(file))).toEqual(["lease.json"]);
    expect(judgeLease(await readLeaseText(dir), 4_000, BOOT)).toEqual({ state: "valid", remainingMs: 1000 });
    await keeper.renew(9_000, undefined);
    expect(await readLeaseText(dir)).toBeNull();
  });
});
