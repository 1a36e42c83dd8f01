// The reason table against the real scheduler (lib/scheduler): every reason the filters and the
// migration verdict produce for these hosts is recognised, and the English message rebuilt from what
// was recognised is the server's sentence exactly (so English pages read as before); zh-CN has a
// message for every key.
import { IntlMessageFormat } from "intl-messageformat";
import { describe, expect, it } from "vitest";
import { DEFAULT_FILTERS, filterContext } from "@/lib/scheduler/filters";
import { migrationVerdicts, type MigrationFacts, type MigratingVm } from "@/lib/scheduler/migration";
import { makeHost } from "@/lib/scheduler/test-fixtures";
import type { HostSnapshot, PlacementRequest } from "@/lib/scheduler/types";
import { readMessages } from "@/i18n/messages";
import { REASON_PATTERNS, matchReason } from "./placement-reasons";

const en = readMessages("en").reasons as Record<string, string>;
const zh = readMessages("zh-CN").reasons as Record<string, string>;

function filterReasons(host: HostSnapshot, req: PlacementRequest): string[] {
  const ctx = filterContext(host, req);
  return DEFAULT_FILTERS.flatMap((f) => {
    const r = f.check(host, req, ctx);
    return r.ok ? [] : [r.reason];
  });
}

const req = (over: Partial<PlacementRequest> = {}): PlacementRequest =>
  ({ arch: "x86_64", vcpus: 2, memoryMb: 1024, diskGb: 10, allowEmulation: false, ...over }) as PlacementRequest;

const facts = (over: Partial<MigrationFacts> = {}): MigrationFacts => ({
  approval: "approved",
  revoked: false,
  hasAgent: true,
  qemuVersion: "8.2.2",
  cpuModel: "Intel Xeon",
  ...over,
});
const vm: MigratingVm = {
  arch: "x86_64",
  emulated: false,
  allowEmulation: false,
  machineType: "pc-q35-8.2",
  cpuModel: "Westmere",
  vcpus: 2,
  memoryMb: 2048,
  diskGb: 20,
  hostId: "id-src",
};

function serverReasons(): string[] {
  const full = { allocatedCpus: 8, allocatedMemoryMb: 16384, allocatedDiskGb: 200 };
  const out = [
    ...filterReasons(makeHost("a", "x86_64", { adminState: "disabled", status: "offline", hasAgent: false }), req()),
    ...filterReasons(makeHost("b", "x86_64", { adminState: "maintenance", ...full }), req({ vcpus: 1 })),
    ...filterReasons(makeHost("c", "x86_64", full), req({ vcpus: 3 })),
    ...filterReasons(makeHost("d", "aarch64"), req()),
    ...filterReasons(makeHost("e", "aarch64", { emulatedArches: [] }), req()),
    ...filterReasons(makeHost("f", "x86_64", { nativeArches: [], emulatedArches: ["x86_64"] }), req()),
    ...filterReasons(makeHost("g", "x86_64", { nativeArches: [], emulatedArches: [] }), req()),
    ...filterReasons(makeHost("h", "x86_64", { maxVcpusNative: 1 }), req({ vcpus: 2 })),
  ];
  const src = { host: makeHost("src"), facts: facts() };
  const revoked = { host: makeHost("r"), facts: facts({ revoked: true, approval: "pending", hasAgent: false }) };
  const arm = { host: makeHost("arm", "aarch64", { emulatedArches: [] }), facts: facts() };
  for (const v of migrationVerdicts(vm, [src, revoked, arm], "cold")) out.push(...v.reasons);
  return out;
}

describe("placement reasons", () => {
  const reasons = serverReasons();

  it("the sample covers every pattern of the table", () => {
    const keys = new Set(reasons.map((r) => matchReason(r)?.key));
    expect([...REASON_PATTERNS.map((p) => p.key)].filter((k) => !keys.has(k))).toEqual([]);
  });

  it("recognises each real reason and rebuilds its English exactly", () => {
    for (const reason of reasons) {
      const m = matchReason(reason);
      expect(m, reason).not.toBeNull();
      expect(new IntlMessageFormat(en[m!.key]!, "en").format(m!.values)).toBe(reason);
    }
  });

  it("has a Chinese message for every key, and leaves unknown reasons alone", () => {
    for (const p of REASON_PATTERNS) expect(zh[p.key], p.key).toMatch(/[\u4e00-\u9fff]/);
    expect(matchReason("QEMU 7.2 here is older than 8.2 on the source: QEMU migrates only forward")).toBeNull();
  });
});
