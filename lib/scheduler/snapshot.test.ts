import { describe, expect, it } from "vitest";
import { hostSnapshotFromRow, parseArchList, type HostRow } from "./snapshot";
import { makeHost } from "./test-fixtures";

describe("hostSnapshotFromRow", () => {
  const row = (patch: Partial<HostRow>): HostRow => ({
    ...makeHost("h", "aarch64"),
    nativeArches: '["aarch64"]',
    emulatedArches: '["x86_64"]',
    ...patch,
  });

  it("parses the stored JSON lists", () => {
    expect(hostSnapshotFromRow(row({}))).toEqual(makeHost("h", "aarch64"));
  });

  it.each([
    ['["arm64","amd64","arm64"]', ["aarch64", "x86_64"]],
    ['["riscv64"]', []],
    ["not json", []],
    ['{"a":1}', []],
    ["[]", []],
  ])("parseArchList(%j)", (input, expected) => {
    expect(parseArchList(input)).toEqual(expected);
  });

  it.each([
    [{ status: "weird" }, { status: "offline" }],
    [{ adminState: "weird" }, { adminState: "disabled" }],
    [{ arch: "arm64" }, { arch: "aarch64" }],
    [{ nativeArches: ["aarch64"] as readonly string[] }, { nativeArches: ["aarch64"] }],
  ])("fails safe on %j", (patch, expected) => {
    expect(hostSnapshotFromRow(row(patch))).toMatchObject(expected);
  });
});
