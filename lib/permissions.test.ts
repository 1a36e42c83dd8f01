import { describe, expect, it } from "vitest";
import { can, PERMISSIONS } from "./permissions";

describe("can", () => {
  it("admin may do everything", () => {
    for (const p of PERMISSIONS) expect(can("admin", p)).toBe(true);
  });
  it.each([
    ["operator", "vm:create", true],
    ["operator", "vm:operate", true],
    ["operator", "image:manage", true],
    ["operator", "host:manage", false],
    ["operator", "user:manage", false],
    ["operator", "audit:read", false],
    ["viewer", "read", true],
    ["viewer", "vm:create", false],
    ["viewer", "image:manage", false],
    ["viewer", "console:write", false],
  ] as const)("%s %s -> %s", (role, perm, expected) => {
    expect(can(role, perm)).toBe(expected);
  });
  it("unknown or missing roles may do nothing", () => {
    expect(can("root", "read")).toBe(false);
    expect(can(undefined, "read")).toBe(false);
    expect(can("", "read")).toBe(false);
  });
});
