import { describe, expect, it } from "vitest";
import { can } from "../permissions";
import { formatInstanceSize, typeFitsArch, wrongArchMessage } from "../instance-type-size";
import { createInstanceTypeSchema, instanceTypeListQuery, updateInstanceTypeSchema } from "./instance-types";
import { createVmSchema } from "./vms";

const messages = (r: { success: boolean; error?: { issues: Array<{ message: string }> } }) =>
  r.error?.issues.map((i) => i.message) ?? [];

describe("createInstanceTypeSchema", () => {
  it("takes a DNS-ish name, the VM size limits and an optional arch (aliases, '' and 'any' = every arch)", () => {
    const base = { name: "m1.small", vcpus: "2", memoryMb: 4096, diskGb: 20 };
    expect(createInstanceTypeSchema.parse(base)).toEqual({ ...base, vcpus: 2, arch: null, description: null });
    expect(createInstanceTypeSchema.parse({ ...base, arch: "arm64" }).arch).toBe("aarch64");
    expect(createInstanceTypeSchema.parse({ ...base, arch: "" }).arch).toBeNull();
    expect(createInstanceTypeSchema.parse({ ...base, arch: "any" }).arch).toBeNull();
    expect(createInstanceTypeSchema.safeParse({ ...base, arch: "riscv64" }).success).toBe(false);
    for (const name of ["M1.small", "-m1", "m1.", "m 1", "", "a".repeat(64)])
      expect(createInstanceTypeSchema.safeParse({ ...base, name }).success, name).toBe(false);
    expect(messages(createInstanceTypeSchema.safeParse({ ...base, vcpus: 0, memoryMb: 32, diskGb: 0 }))).toEqual([
      "at least 1 vCPU",
      "at least 64 MiB of memory",
      "at least 1 GiB of disk",
    ]);
    expect(createInstanceTypeSchema.safeParse({ ...base, extra: 1 }).success).toBe(false);
  });

  it("an update names at least one field; null arch = every arch", () => {
    expect(updateInstanceTypeSchema.safeParse({}).success).toBe(false);
    expect(updateInstanceTypeSchema.parse({ arch: null })).toEqual({ arch: null });
    expect(updateInstanceTypeSchema.parse({ description: "" })).toEqual({ description: null });
    expect(instanceTypeListQuery.parse({ arch: "arm64" })).toEqual({ arch: "aarch64" });
  });
});

describe("createVmSchema: instanceType or a custom size", () => {
  const base = { name: "vm1", arch: "x86_64", imageId: "img" };

  it("takes a type alone, or all three sizes", () => {
    expect(createVmSchema.parse({ ...base, instanceType: "m1.small" }).instanceType).toBe("m1.small");
    expect(createVmSchema.parse({ ...base, vcpus: 1, memoryMb: 128, diskGb: 1 })).toMatchObject({ vcpus: 1 });
  });

  it("refuses both with one clear message (a 400 at the API)", () => {
    const r = createVmSchema.safeParse({ ...base, instanceType: "m1.small", vcpus: 2 });
    expect(messages(r)).toEqual([
      "give either instanceType or a custom size (vcpus, memoryMb, diskGb), not both (got instanceType and vcpus)",
    ]);
  });

  it("names each size field missing from a custom size", () => {
    expect(messages(createVmSchema.safeParse({ ...base, vcpus: 2 }))).toEqual([
      "memoryMb is required for a custom size (or give instanceType instead of vcpus, memoryMb and diskGb)",
      "diskGb is required for a custom size (or give instanceType instead of vcpus, memoryMb and diskGb)",
    ]);
    expect(messages(createVmSchema.safeParse(base))).toHaveLength(3);
  });
});

describe("sizes in words and arch fit", () => {
  it("formats like the wizard shows it", () => {
    expect(formatInstanceSize({ vcpus: 2, memoryMb: 4096, diskGb: 20 })).toBe("2 vCPU · 4 GiB · 20 GiB");
    expect(formatInstanceSize({ vcpus: 1, memoryMb: 512, diskGb: 2 })).toBe("1 vCPU · 512 MiB · 2 GiB");
  });
  it("a type without an arch fits every arch; one with an arch only that arch", () => {
    expect(typeFitsArch({ arch: null }, "x86_64")).toBe(true);
    expect(typeFitsArch({ arch: "aarch64" }, "aarch64")).toBe(true);
    expect(typeFitsArch({ arch: "aarch64" }, "x86_64")).toBe(false);
    expect(wrongArchMessage({ name: "m1.arm", arch: "aarch64" }, "x86_64")).toBe(
      "Instance type m1.arm is for aarch64 only; choose a type for x86_64 or a custom size.",
    );
  });
});

describe("permissions", () => {
  it("only admins manage instance types; admins and operators may give a custom size", () => {
    expect(["admin", "operator", "viewer"].map((r) => can(r, "instanceType:manage"))).toEqual([true, false, false]);
    expect(["admin", "operator", "viewer"].map((r) => can(r, "vm:customSize"))).toEqual([true, true, false]);
  });
});
