import { describe, expect, it } from "vitest";
import { placementRequestSchema } from "./schema";
import { schedule } from "./schedule";
import { makeHost } from "./test-fixtures";
import type { PlacementRequest } from "./types";

const base = { vcpus: 2, memoryMb: 2048, diskGb: 20 };

describe("placementRequestSchema", () => {
  it.each([
    ["x86_64", "x86_64"],
    ["amd64", "x86_64"],
    ["x64", "x86_64"],
    ["AMD64", "x86_64"],
    ["aarch64", "aarch64"],
    ["arm64", "aarch64"],
    ["ARM64", "aarch64"],
    ["armv8", "aarch64"],
  ])("arch alias %s -> %s", (input, arch) => {
    expect(placementRequestSchema.parse({ ...base, arch: input }).arch).toBe(arch);
  });

  it("defaults: no emulation, spread", () => {
    expect(placementRequestSchema.parse({ ...base, arch: "arm64" })).toEqual({
      ...base,
      arch: "aarch64",
      allowEmulation: false,
      strategy: "spread",
    });
  });

  it.each([
    ["unknown arch", { arch: "sparc" }, /Unknown architecture "sparc"/],
    ["missing arch", { arch: undefined }, /Architecture is required/],
    ["0 vCPUs", { vcpus: 0 }, /vcpus is at least 1/],
    ["257 vCPUs", { vcpus: 257 }, /vcpus is at most 256/],
    ["fractional vCPUs", { vcpus: 1.5 }, /vcpus must be a whole number/],
    ["vCPUs as text", { vcpus: "2" }, /vcpus must be a number/],
    ["63 MiB", { memoryMb: 63 }, /memoryMb is at least 64 MiB/],
    ["1 TiB + 1 MiB", { memoryMb: 1_048_577 }, /memoryMb is at most 1048576 MiB/],
    ["0 GiB disk", { diskGb: 0 }, /diskGb is at least 1 GiB/],
    ["65537 GiB disk", { diskGb: 65_537 }, /diskGb is at most 65536 GiB/],
    ["bad strategy", { strategy: "random" }, /strategy must be one of: spread, pack/],
    ["allowEmulation as text", { allowEmulation: "yes" }, /boolean/],
  ])("rejects %s", (_, patch, message) => {
    const r = placementRequestSchema.safeParse({ ...base, arch: "x86_64", ...patch });
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => i.message).join("\n")).toMatch(message);
  });

  it.each([[{ vcpus: 1, memoryMb: 64, diskGb: 1 }], [{ vcpus: 256, memoryMb: 1_048_576, diskGb: 65_536 }]])(
    "accepts the bounds %j",
    (sizes) => {
      expect(placementRequestSchema.safeParse({ ...sizes, arch: "x86_64" }).success).toBe(true);
    },
  );

  it("alias input schedules onto the canonical arch", () => {
    const req: PlacementRequest = placementRequestSchema.parse({ ...base, arch: "arm64" });
    const r = schedule([makeHost("x1", "x86_64"), makeHost("a1", "aarch64")], req);
    expect(r.ok && r.host.name).toBe("a1");
  });
});
