import { describe, expect, it } from "vitest";
import { migrationResultSchema } from "../../../lib/schemas/agent-migration";
import { memoryCopyFor } from "./outgoing";

describe("memoryCopyFor", () => {
  it("copies memory live only with KVM; TCG and an unrecorded accel pause the guest (ADR 064)", () => {
    expect(memoryCopyFor({ state: { version: 1, sockDir: "/s", taps: {}, nicSpecs: {}, accel: "kvm" } })).toBe("live");
    expect(memoryCopyFor({ state: { version: 1, sockDir: "/s", taps: {}, nicSpecs: {}, accel: "tcg" } })).toBe(
      "paused",
    );
    expect(memoryCopyFor({ state: { version: 1, sockDir: "/s", taps: {}, nicSpecs: {} } })).toBe("paused");
  });

  it("a result from an agent that does not say how it copied reads as live", () => {
    const r = migrationResultSchema.parse({ totalMs: 1, downtimeMs: 1, ramBytes: 1, diskBytes: 1 });
    expect(r.memoryCopy).toBe("live");
    expect(() => migrationResultSchema.parse({ ...r, memoryCopy: "postcopy" })).toThrow();
  });
});
