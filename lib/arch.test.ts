import { describe, expect, it } from "vitest";
import { archSchema, normalizeArch, ACCEPTED_ARCH_NAMES } from "./arch";

describe("normalizeArch", () => {
  it.each([
    ["x86_64", "x86_64"],
    ["X86_64", "x86_64"],
    ["amd64", "x86_64"],
    ["AMD64", "x86_64"],
    ["x64", "x86_64"],
    ["x86-64", "x86_64"],
    [" amd64 ", "x86_64"],
    ["aarch64", "aarch64"],
    ["arm64", "aarch64"],
    ["ARM64", "aarch64"],
    ["armv8", "aarch64"],
    ["Aarch64", "aarch64"],
  ])("%s -> %s", (input, expected) => {
    expect(normalizeArch(input)).toBe(expected);
  });

  it.each(["sparc", "", "i386", "armv7l", "riscv64", "x86", "arm", "__proto__", "constructor", "toString"])(
    "rejects %j",
    (input) => {
      expect(normalizeArch(input)).toBeNull();
    },
  );

  it("rejects non-strings", () => {
    expect(normalizeArch(undefined)).toBeNull();
    expect(normalizeArch(null)).toBeNull();
  });
});

describe("archSchema", () => {
  it("outputs the canonical value", () => {
    expect(archSchema.parse("arm64")).toBe("aarch64");
  });
  it("names the accepted values in its error", () => {
    const result = archSchema.safeParse("sparc");
    expect(result.success).toBe(false);
    const message = result.error!.issues[0]!.message;
    expect(message).toContain("sparc");
    expect(message).toContain("x86_64");
    expect(message).toContain("aarch64");
    expect(message).toContain("arm64");
  });
  it("lists every alias", () => {
    expect(ACCEPTED_ARCH_NAMES).toEqual(expect.arrayContaining(["amd64", "x64", "arm64", "armv8"]));
  });
});
