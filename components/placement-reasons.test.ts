// The reason table against the real scheduler (lib/scheduler): every reason the filters and the
// migration verdict produce for these hosts is recognised, and the English message rebuilt from what
// was recognised is the server's sentence exactly (so English pages read as before); zh-CN has a
// message for every key.
import { IntlMessageFormat } from "intl-messageformat";
import { describe, expect, it } from "vitest";
import { DEFAULT_FILTERS, filterContext } from "@/lib/scheduler/filters";
import { migrationBlocked, migrationVerdicts, type MigrationFacts, type MigratingVm } from "@/lib/scheduler/migration";
import { makeHost, makeTcgHost } from "@/lib/scheduler/test-fixtures";
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
  return [...out, ...migrationSentences(), ...blockedSentences()];
}

/** Why a VM cannot move at all (migrationBlocked), one of each. */
function blockedSentences(): string[] {
  const base = {
    name: "数据库-1",
    status: "running",
    migratingToHostId: null,
    runningTasks: [] as string[],
    internalSnapshots: 0,
    hostId: "h",
  };
  return [
    { ...base, migratingToHostId: "h2" },
    { ...base, runningTasks: ["vm.resize"] },
    { ...base, hostId: null },
    { ...base, status: "unknown" },
    { ...base, internalSnapshots: 1 },
    { ...base, internalSnapshots: 3 },
  ].map((vm) => migrationBlocked(vm)!);
}

/** The migration preview's own reasons and warnings: live and cold moves between hosts that differ. */
function migrationSentences(): string[] {
  const out: string[] = [];
  const verdicts = (v: MigratingVm, hosts: { host: HostSnapshot; facts: MigrationFacts }[], mode: "live" | "cold") => {
    for (const x of migrationVerdicts(v, hosts, mode)) if (!x.current) out.push(...x.reasons, ...x.warnings);
  };
  const machines = { x86_64: { default: "pc-q35-9.2", types: ["pc-q35-9.2"] } };
  const src = { host: makeHost("src"), facts: facts({ machines: { x86_64: { default: "pc-q35-8.2", types: [] } } }) };
  // x86_64 KVM guest, live: machine type missing / not reported, QEMU older, CPU models
  verdicts(
    vm,
    [
      src,
      { host: makeHost("old"), facts: facts({ qemuVersion: "7.2.0", machines, cpuModels: ["qemu64"] }) },
      { host: makeHost("unknown"), facts: facts({ qemuVersion: null }) },
      { host: makeTcgHost("tcg"), facts: facts({ machines }) },
    ],
    "live",
  );
  verdicts(vm, [src, { host: makeHost("old"), facts: facts({ qemuVersion: "7.2.0", cpuModels: [] }) }], "cold");
  verdicts({ ...vm, cpuModel: "host" }, [src, { host: makeHost("b"), facts: facts({ cpuModel: "AMD EPYC" }) }], "live");
  verdicts({ ...vm, cpuModel: "host" }, [src, { host: makeHost("b"), facts: facts({ cpuModel: null }) }], "live");
  verdicts(
    { ...vm, machineType: null, allowEmulation: true },
    [src, { host: makeTcgHost("tcg"), facts: facts() }],
    "cold",
  );
  // an aarch64 guest emulated on x86_64 hosts with CPU "max", live to a newer QEMU
  const crossVm = { ...vm, arch: "aarch64" as const, emulated: true, machineType: null, cpuModel: "max" };
  verdicts(crossVm, [src, { host: makeHost("newer"), facts: facts({ qemuVersion: "9.0.0" }) }], "live");
  // TCG guest: to a KVM host live (refused) and cold (re-pinned); CPU "max" across QEMU versions
  const tcgSrc = { host: makeTcgHost("src"), facts: facts() };
  const tcgVm = { ...vm, machineType: null, cpuModel: "max", allowEmulation: true };
  verdicts(tcgVm, [tcgSrc, { host: makeHost("kvm"), facts: facts() }], "live");
  verdicts(tcgVm, [tcgSrc, { host: makeHost("kvm"), facts: facts() }], "cold");
  verdicts(tcgVm, [tcgSrc, { host: makeTcgHost("newer"), facts: facts({ qemuVersion: "9.0.0" }) }], "live");
  // aarch64 KVM guest, live: the CPU id, page size and GIC version, unknown and different
  const armVm = { ...vm, arch: "aarch64" as const, machineType: null, cpuModel: "host" };
  const armFacts = facts({ cpuId: { implementer: "0x48", part: "0xd01" }, pageSizeKb: 4, gicVersion: 3 });
  const armSrc = { host: makeHost("src", "aarch64"), facts: armFacts };
  verdicts(armVm, [armSrc, { host: makeHost("bare", "aarch64"), facts: facts() }], "live");
  verdicts(
    armVm,
    [
      armSrc,
      {
        host: makeHost("other", "aarch64"),
        facts: facts({ cpuId: { implementer: "0x41", part: "0xd0c" }, pageSizeKb: 64, gicVersion: 4 }),
      },
    ],
    "live",
  );
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
    expect(matchReason("the moon is in the wrong phase")).toBeNull();
  });
});
