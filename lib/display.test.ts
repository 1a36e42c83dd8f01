import { describe, expect, it } from "vitest";
import { defaultDisplay, displayFits, effectiveDisplay } from "./display";
import { createVmSchema } from "./schemas/vms";
import { vmSpecSchema } from "./schemas/agent-api";
import { specDisplay } from "../agent/src/vm";

describe("display per VM", () => {
  it("x86_64 always has VGA; aarch64 follows the image unless it asks", () => {
    expect(defaultDisplay("x86_64")).toBe("vga");
    expect(defaultDisplay("x86_64", { format: "kernel" })).toBe("vga");
    expect(defaultDisplay("aarch64", { format: "kernel" })).toBe("none");
    expect(defaultDisplay("aarch64", { format: "qcow2" })).toBe("virtio-gpu");
    expect(defaultDisplay("aarch64")).toBe("none");
    expect(displayFits("x86_64", "none")).toBe(false);
    expect(displayFits("aarch64", "ramfb")).toBe(true);
    expect(displayFits("aarch64", "vga")).toBe(false);
    // stored values: null or impossible ones fall back to the default
    expect(effectiveDisplay("aarch64", null, { format: "raw" })).toBe("virtio-gpu");
    expect(effectiveDisplay("aarch64", "ramfb", { format: "kernel" })).toBe("ramfb");
    expect(effectiveDisplay("x86_64", "none")).toBe("vga");
    expect(effectiveDisplay("aarch64", "bogus", { format: "kernel" })).toBe("none");
  });

  it("VM create validates the display against the arch (zod)", () => {
    const base = { name: "v1", imageId: "img", vcpus: 1, memoryMb: 256, diskGb: 1 };
    expect(createVmSchema.parse({ ...base, arch: "aarch64", display: "ramfb" }).display).toBe("ramfb");
    expect(createVmSchema.parse({ ...base, arch: "x86_64" }).display).toBeUndefined();
    const bad = createVmSchema.safeParse({ ...base, arch: "x86_64", display: "virtio-gpu" });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.path).toEqual(["display"]);
    expect(createVmSchema.safeParse({ ...base, arch: "aarch64", display: "vga" }).success).toBe(false);
    expect(createVmSchema.safeParse({ ...base, arch: "aarch64", display: "cirrus" }).success).toBe(false);
  });

  it("the agent spec carries it (absent = the default for the arch and boot type)", () => {
    const spec = (over: object) =>
      vmSpecSchema.parse({
        name: "v1",
        arch: "aarch64",
        vcpus: 1,
        memoryMb: 256,
        diskGb: 1,
        boot: { type: "kernel", imageId: "i" },
        ...over,
      });
    expect(specDisplay(spec({}))).toBe("none");
    expect(specDisplay(spec({ boot: { type: "disk", imageId: "i", format: "qcow2", firmware: "uefi" } }))).toBe(
      "virtio-gpu",
    );
    expect(specDisplay(spec({ display: "ramfb" }))).toBe("ramfb");
    expect(specDisplay(spec({ arch: "x86_64" }))).toBe("vga");
    expect(() => spec({ display: "cirrus" })).toThrow();
  });
});
