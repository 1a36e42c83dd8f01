import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { kvmProbeArgs, probeKvm } from "./probe";

describe("probeKvm", () => {
  it("builds a paused, display-less KVM machine with -cpu host", () => {
    const args = kvmProbeArgs("aarch64");
    expect(args).toEqual(expect.arrayContaining(["-accel", "kvm", "-cpu", "host", "-S", "-nodefaults"]));
    expect(args[args.indexOf("-machine") + 1]).toBe("virt,gic-version=max");
  });

  it("reports a missing binary instead of throwing", async () => {
    const r = await probeKvm("/nonexistent/qemu-system-x86_64", "x86_64");
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/ENOENT/);
  });

  it.skipIf(!existsSync("/usr/bin/qemu-system-x86_64"))(
    "answers for the real binary (works or says why not)",
    async () => {
      const t0 = Date.now();
      const r = await probeKvm("/usr/bin/qemu-system-x86_64", "x86_64");
      expect(Date.now() - t0).toBeLessThan(10_000);
      if (!existsSync("/dev/kvm")) expect(r.ok).toBe(false);
      if (!r.ok) expect(r.reason).toBeTruthy();
      console.log(`[probe] KVM on this host: ${r.ok ? "usable" : `NOT usable: ${r.reason}`}`);
    },
  );
});
