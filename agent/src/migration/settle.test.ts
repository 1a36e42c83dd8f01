// waitUntilReceived (incoming.ts): after the source says "completed", the target QEMU may still be
// loading the last device state (status "inmigrate"); completing must wait for it, within a bound.
// The QMP here is a fake of one method: the real round trip is live.int.test.ts.
import { describe, expect, it } from "vitest";
import { waitUntilReceived } from "./incoming";

function qmp(statuses: (string | Error)[]) {
  let calls = 0;
  return {
    calls: () => calls,
    async queryStatus() {
      const next = statuses[Math.min(calls++, statuses.length - 1)]!;
      if (next instanceof Error) throw next;
      return { status: next };
    },
  };
}

describe("waitUntilReceived", () => {
  it("returns at once for a target that has its memory, after polling for one still in inmigrate", async () => {
    const ready = qmp(["paused"]);
    await waitUntilReceived(ready, "vm1");
    expect(ready.calls()).toBe(1);
    const late = qmp(["inmigrate", "inmigrate", "paused"]);
    await waitUntilReceived(late, "vm1");
    expect(late.calls()).toBe(3);
  });

  it("gives up with a 409 naming the VM once the bound has passed", async () => {
    const stuck = qmp(["inmigrate"]);
    await expect(waitUntilReceived(stuck, "vm1", 250)).rejects.toMatchObject({
      code: "conflict",
      message: expect.stringContaining("VM vm1 has not received its memory yet"),
    });
    expect(stuck.calls()).toBeGreaterThan(1);
  });

  it("a target QEMU that went away fails at once", async () => {
    const gone = qmp(["inmigrate", new Error("QMP connection closed")]);
    await expect(waitUntilReceived(gone, "vm1")).rejects.toThrow("QMP connection closed");
    expect(gone.calls()).toBe(2);
  });
});
