import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { vmNameSchema } from "./schemas/vms";
import { nameSuffix, suggestVmName } from "./vm-name-suggestion";

describe("suggestVmName", () => {
  it("builds a DNS-label name from the image and the arch", () => {
    expect(suggestVmName("busybox-demo", "x86_64", "k3f9")).toBe("busybox-demo-x86-k3f9");
    expect(suggestVmName("Ubuntu 24.04 LTS (cloud)", "aarch64", "a1b2")).toBe("ubuntu-24-04-lts-cloud-arm-a1b2");
    expect(suggestVmName("debian-arm", "aarch64", "zz00")).toBe("debian-arm-zz00");
    expect(suggestVmName("麒麟 V10", "aarch64", "0000")).toBe("v10-arm-0000");
    expect(suggestVmName("---", "x86_64", "q")).toBe("vm-x86-q");
    expect(suggestVmName(null, "riscv64", "abcd")).toBe("vm-vm-abcd");
  });

  it("always passes the VM name schema, whatever the image is called", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), fc.constantFrom("x86_64", "aarch64"), (base, arch) => {
        const name = suggestVmName(base, arch, nameSuffix());
        expect(vmNameSchema.safeParse(name).success).toBe(true);
        expect(name.length).toBeLessThanOrEqual(63);
        expect(name).toMatch(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/);
      }),
    );
  });

  it("suffixes are four base-36 characters", () => {
    expect(nameSuffix(() => 0)).toBe("0000");
    expect(nameSuffix(() => 0.999)).toBe("zzzz");
  });
});
