// Migration verdicts with real-shaped facts: Kunpeng 920 vs Ampere Altra, 4K vs 64K pages,
// GICv2 vs v3, QEMU 8.2 → 7.2, machine types, TCG ↔ KVM, and the pinning rules at create.
import { describe, expect, it } from "vitest";
import { makeHost, makeTcgHost } from "./test-fixtures";
import {
  cpuModelAfterMove,
  cpuModelArchProblem,
  describeCpuId,
  migrationBlocked,
  migrationFactsFromRow,
  migrationVerdicts,
  noTargetReason,
  parseQemuVersion,
  pinCpuModel,
  recommendTarget,
  type MigratingVm,
  type MigrationFacts,
  type MigrationHost,
} from "./migration";
import type { HostSnapshot } from "./types";

const X86_MACHINES = { default: "pc-q35-8.2", types: ["pc-q35-8.2", "pc-q35-8.1", "pc-q35-7.2", "pc-i440fx-8.2"] };
const X86_MACHINES_72 = { default: "pc-q35-7.2", types: ["pc-q35-7.2", "pc-q35-7.1", "pc-i440fx-7.2"] };
const ARM_MACHINES = { default: "virt-8.2", types: ["virt-8.2", "virt-8.1", "virt-7.2"] };
const KUNPENG = { implementer: "0x48", part: "0xd01" };
const ALTRA = { implementer: "0x41", part: "0xd0c" };

function facts(over: Partial<MigrationFacts> = {}): MigrationFacts {
  return {
    approval: "approved",
    revoked: false,
    hasAgent: true,
    qemuVersion: "8.2.2",
    cpuModel: "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz",
    machines: { x86_64: X86_MACHINES, aarch64: ARM_MACHINES },
    cpuModels: ["Westmere", "Nehalem", "Icelake-Server"],
    ...over,
  };
}

function armFacts(over: Partial<MigrationFacts> = {}): MigrationFacts {
  return facts({
    cpuModel: "Kunpeng-920",
    cpuId: KUNPENG,
    pageSizeKb: 4,
    gicVersion: 3,
    cpuModels: undefined,
    ...over,
  });
}

const h = (host: HostSnapshot, f: MigrationFacts): MigrationHost => ({ host, facts: f });

function vm(over: Partial<MigratingVm> = {}): MigratingVm {
  return {
    arch: "x86_64",
    emulated: false,
    allowEmulation: false,
    machineType: "pc-q35-8.2",
    cpuModel: "Westmere",
    vcpus: 2,
    memoryMb: 2048,
    diskGb: 20,
    hostId: "id-src",
    ...over,
  };
}

/** The source carries the VM's own claim, as in the database. */
const claimed = (host: HostSnapshot) => ({ ...host, allocatedCpus: 2, allocatedMemoryMb: 2048, allocatedDiskGb: 20 });

function verdictOf(v: MigratingVm, src: MigrationHost, dst: MigrationHost, mode: "live" | "cold" = "live") {
  const verdicts = migrationVerdicts(v, [src, dst], mode);
  return { src: verdicts[0]!, dst: verdicts[1]! };
}

describe("migration verdicts", () => {
  it("like hosts: ok, native, no reasons; the current host is never ok and does not count its own claim", () => {
    const src = h(claimed(makeHost("src", "x86_64", { memoryMb: 2048, cpuCount: 2, diskGb: 20 })), facts());
    const { src: s, dst: d } = verdictOf(vm(), src, h(makeHost("dst"), facts()));
    expect(d).toMatchObject({ id: "id-dst", ok: true, current: false, mode: "native", reasons: [], warnings: [] });
    // Full to the brim with this VM alone: the only reason is that it runs there.
    expect(s).toMatchObject({ ok: false, current: true, reasons: ["the VM runs on this host"] });
  });

  it("another host needs full room", () => {
    const dst = h(makeHost("dst", "x86_64", { allocatedMemoryMb: 15000 }), facts());
    const { dst: d } = verdictOf(vm(), h(claimed(makeHost("src")), facts()), dst);
    expect(d.ok).toBe(false);
    expect(d.reasons).toEqual(["needs 2048 MiB RAM, 1384 free"]);
  });

  it("other arch: an x86_64 VM cannot run on an aarch64 host that does not emulate it", () => {
    const arm = h(makeHost("arm", "aarch64", { emulatedArches: [] }), armFacts());
    const { dst: d } = verdictOf(vm(), h(claimed(makeHost("src")), facts()), arm);
    expect(d.reasons).toEqual(["x86_64 VM cannot run on an aarch64 host (no x86_64 emulator there)"]);
    expect(d.mode).toBeNull();
  });

  it("machine type missing on the target names it and the target's QEMU; an older QEMU refuses live, warns cold", () => {
    const old = h(
      makeHost("old"),
      facts({ qemuVersion: "7.2.22 (Debian 1:7.2+dfsg-7)", machines: { x86_64: X86_MACHINES_72 } }),
    );
    const { dst: live } = verdictOf(vm(), h(claimed(makeHost("src")), facts()), old);
    expect(live.reasons).toEqual([
      "machine type pc-q35-8.2 is not offered by this host's QEMU 7.2.22 (its x86_64 default is pc-q35-7.2)",
      "QEMU 7.2.22 here is older than 8.2.2 on the source: QEMU migrates only forward",
    ]);
    const pinned72 = vm({ machineType: "pc-q35-7.2" });
    const { dst: cold } = verdictOf(pinned72, h(claimed(makeHost("src")), facts()), old, "cold");
    expect(cold).toMatchObject({ ok: true, warnings: ["QEMU 7.2.22 here is older than 8.2.2 on the source"] });
    // 7.2 → 8.2 with a machine type both have: fine both ways round.
    const { dst: up } = verdictOf(pinned72, h(claimed(makeHost("src")), old.facts), h(makeHost("new"), facts()));
    expect(up).toMatchObject({ ok: true, reasons: [] });
  });

  it("aarch64 KVM: Kunpeng 920 vs Ampere Altra refused, naming both CPUs", () => {
    const a = vm({ arch: "aarch64", machineType: "virt-8.2", cpuModel: "host" });
    const src = h(claimed(makeHost("src", "aarch64")), armFacts());
    const altra = h(makeHost("altra", "aarch64"), armFacts({ cpuId: ALTRA, cpuModel: "Neoverse-N1" }));
    const { dst: d } = verdictOf(a, src, altra);
    expect(d.reasons).toEqual([
      "HiSilicon 0x48/0xd01 vs Arm 0x41/0xd0c: KVM guests on aarch64 use host passthrough; the CPUs must match",
    ]);
    expect(describeCpuId({ implementer: "0xc0", part: "0xac3" })).toBe("Ampere 0xc0/0xac3");
  });

  it("aarch64 KVM: 4K vs 64K pages and GICv2 vs v3 refused; unknown values only warn", () => {
    const a = vm({ arch: "aarch64", machineType: "virt-8.2", cpuModel: "host" });
    const src = h(claimed(makeHost("src", "aarch64")), armFacts());
    const k64 = h(makeHost("k64", "aarch64"), armFacts({ pageSizeKb: 64, gicVersion: 2 }));
    expect(verdictOf(a, src, k64).dst.reasons).toEqual([
      "kernel page size 64 KiB here vs 4 KiB on the source",
      "GICv2 here vs GICv3 on the source",
    ]);
    const unknown = h(makeHost("unk", "aarch64"), armFacts({ cpuId: null, pageSizeKb: null, gicVersion: undefined }));
    const { dst: d } = verdictOf(a, src, unknown);
    expect(d.ok).toBe(true);
    expect(d.warnings).toEqual([
      "a CPU id (MIDR) is unknown; host-passthrough compatibility not verified",
      "a kernel page size is unknown; not compared",
      "a GIC version is unknown; not compared",
    ]);
  });

  it("aarch64 TCG: the host CPU does not matter (TCG emulates cortex-a57 anywhere)", () => {
    const a = vm({ arch: "aarch64", emulated: true, machineType: "virt-8.2", cpuModel: "cortex-a57" });
    const src = h(claimed(makeTcgHost("src", "x86_64")), facts());
    const dst = h(makeTcgHost("dst", "x86_64"), facts({ cpuModel: "AMD EPYC 7763" }));
    expect(verdictOf(a, src, dst).dst).toMatchObject({ ok: true, mode: "emulated", reasons: [], warnings: [] });
  });

  it("x86_64 KVM: cpuModel host needs the identical CPU; a named model needs the target to list it", () => {
    const src = h(claimed(makeHost("src")), facts());
    const epyc = h(makeHost("epyc"), facts({ cpuModel: "AMD EPYC 7763 64-Core Processor", cpuModels: ["Nehalem"] }));
    expect(verdictOf(vm({ cpuModel: "host" }), src, epyc).dst.reasons).toEqual([
      'CPU model "host" needs an identical CPU: "AMD EPYC 7763 64-Core Processor" here vs "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz" on the source',
    ]);
    expect(verdictOf(vm(), src, epyc).dst.reasons).toEqual(["this host's CPU cannot run CPU model Westmere"]);
    const silent = h(makeHost("silent"), facts({ cpuModels: undefined }));
    expect(verdictOf(vm(), src, silent).dst).toMatchObject({
      ok: true,
      warnings: ["the host does not report its CPU models; Westmere is assumed usable"],
    });
  });

  it("a TCG VM to a KVM host: live refused (accelerator switch), cold allowed with a warning", () => {
    const t = vm({ emulated: true, cpuModel: "max" });
    const src = h(claimed(makeTcgHost("src")), facts());
    const kvm = h(makeHost("kvm"), facts());
    expect(verdictOf(t, src, kvm).dst.reasons).toEqual([
      "this host runs x86_64 with KVM: a TCG guest cannot switch accelerators mid-flight; migrate it stopped (cold)",
    ]);
    expect(verdictOf(t, src, kvm, "cold").dst).toMatchObject({
      ok: true,
      mode: "native",
      warnings: ["the VM will run with KVM here; its CPU model is re-pinned"],
    });
  });

  it("a host that is native for the arch but has no usable KVM runs TCG: a TCG VM moves there live", () => {
    const t = vm({ emulated: true, cpuModel: "max" });
    const src = h(claimed(makeHost("src")), facts({ kvm: false }));
    const nokvm = h(makeHost("nokvm"), facts({ kvm: false }));
    expect(verdictOf(t, src, nokvm).dst).toMatchObject({ ok: true, mode: "emulated", reasons: [] });
  });

  it("host state: maintenance, disabled, offline, pending, revoked, no agent — each a reason", () => {
    const src = h(claimed(makeHost("src")), facts());
    const cases: [MigrationHost, string][] = [
      [h(makeHost("m", "x86_64", { adminState: "maintenance" }), facts()), "host is in maintenance"],
      [h(makeHost("d", "x86_64", { adminState: "disabled" }), facts()), "host is disabled"],
      [h(makeHost("o", "x86_64", { status: "offline" }), facts()), "host is offline"],
      [h(makeHost("p"), facts({ approval: "pending" })), "host is waiting for an admin's approval"],
      [h(makeHost("r"), facts({ revoked: true })), "host is revoked"],
      [h(makeHost("n"), facts({ hasAgent: false })), "host has no agent address"],
    ];
    for (const [host, reason] of cases) {
      const d = verdictOf(vm(), src, host).dst;
      expect([host.host.name, d.ok, d.reasons]).toEqual([host.host.name, false, [reason]]);
    }
    expect(verdictOf(vm(), src, cases[0]![0]).dst.status).toBe("maintenance");
  });

  it("recommendation: the scheduler's pick among ok hosts only; none → the reasons per host", () => {
    const v = vm();
    const hosts = [
      h(claimed(makeHost("src")), facts()),
      h(makeHost("busy", "x86_64", { allocatedCpus: 6 }), facts()),
      h(makeHost("idle"), facts()),
      h(makeHost("maint", "x86_64", { adminState: "maintenance" }), facts()),
    ];
    const verdicts = migrationVerdicts(v, hosts, "live");
    expect(recommendTarget(v, hosts, verdicts, "live")).toBe("id-idle");
    const none = migrationVerdicts(v, [hosts[0]!, hosts[3]!], "live");
    expect(recommendTarget(v, [hosts[0]!, hosts[3]!], none, "live")).toBeNull();
    expect(noTargetReason(none)).toBe("maint: host is in maintenance");
    expect(noTargetReason(migrationVerdicts(v, [hosts[0]!], "live"))).toBe("the fleet has no other host");
  });
});

describe("blocked", () => {
  const base = {
    name: "web",
    status: "running",
    migratingToHostId: null,
    runningTasks: [],
    internalSnapshots: 0,
    hostId: "h",
  };
  it("names what stops any move", () => {
    expect(migrationBlocked(base)).toBeNull();
    expect(migrationBlocked({ ...base, status: "stopped" })).toBeNull();
    expect(migrationBlocked({ ...base, migratingToHostId: "x" })).toBe("web is already being migrated");
    expect(migrationBlocked({ ...base, runningTasks: ["vm.resize"] })).toBe(
      "a vm.resize task is still running for web",
    );
    expect(migrationBlocked({ ...base, status: "error" })).toBe("only a running or stopped VM can move; web is error");
    expect(migrationBlocked({ ...base, internalSnapshots: 2 })).toMatch(/^web has 2 snapshots inside its disk/);
    expect(migrationBlocked({ ...base, hostId: null })).toBe("web is not placed on any host");
  });
});

describe("pinning", () => {
  it("defaults per arch and accelerator", () => {
    expect(pinCpuModel("x86_64", "emulated", null)).toEqual({ cpuModel: "max" });
    expect(pinCpuModel("x86_64", "native", undefined)).toEqual({ cpuModel: "Westmere" });
    expect(pinCpuModel("aarch64", "emulated", null)).toEqual({ cpuModel: "cortex-a57" });
    expect(pinCpuModel("aarch64", "native", null)).toEqual({ cpuModel: "host" });
    expect(pinCpuModel("x86_64", "native", "host")).toEqual({ cpuModel: "host" });
    expect(pinCpuModel("x86_64", "native", "EPYC-Rome")).toEqual({ cpuModel: "EPYC-Rome" });
  });

  it("refuses what cannot run: Arm on x86, x86 on Arm, host under TCG, a named Arm model under KVM", () => {
    expect(cpuModelArchProblem("x86_64", "cortex-a57")).toMatch(/^CPU model cortex-a57 is an Arm CPU/);
    expect(cpuModelArchProblem("aarch64", "Haswell-noTSX")).toMatch(/is not an Arm CPU/);
    expect(cpuModelArchProblem("aarch64", "neoverse-n1")).toBeNull();
    expect(cpuModelArchProblem("x86_64", "max")).toBeNull();
    expect(pinCpuModel("x86_64", "emulated", "host")).toEqual({ error: expect.stringMatching(/needs KVM/) });
    expect(pinCpuModel("aarch64", "native", "cortex-a57")).toEqual({ error: expect.stringMatching(/passthrough/) });
  });

  it("a cold move across accelerators re-pins only what cannot run there", () => {
    expect(cpuModelAfterMove("x86_64", "emulated", "native", "max")).toBe("Westmere");
    expect(cpuModelAfterMove("x86_64", "emulated", "native", "EPYC")).toBe("EPYC");
    expect(cpuModelAfterMove("x86_64", "native", "emulated", "host")).toBe("max");
    expect(cpuModelAfterMove("aarch64", "emulated", "native", "cortex-a57")).toBe("host");
    expect(cpuModelAfterMove("aarch64", "native", "native", "host")).toBe("host");
  });

  it("parses QEMU versions as reported", () => {
    expect(parseQemuVersion("QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)")).toEqual([7, 2, 22]);
    expect(parseQemuVersion("8.2")).toEqual([8, 2, 0]);
    expect(parseQemuVersion(null)).toBeNull();
  });
});

describe("facts from a Host row", () => {
  it("reads each fact on its own; unreadable ones are unknown", () => {
    const row = {
      approval: "approved",
      revokedAt: null,
      agentUrl: "https://10.0.0.5:9443",
      qemuVersion: "8.2.2",
      cpuModel: "Kunpeng-920",
      facts: JSON.stringify({
        machines: { aarch64: ARM_MACHINES },
        pageSizeKb: 64,
        gicVersion: "three",
        cpuId: KUNPENG,
      }),
    };
    expect(migrationFactsFromRow(row)).toEqual({
      approval: "approved",
      revoked: false,
      hasAgent: true,
      qemuVersion: "8.2.2",
      cpuModel: "Kunpeng-920",
      machines: { aarch64: ARM_MACHINES },
      pageSizeKb: 64,
      gicVersion: undefined,
      cpuId: KUNPENG,
      cpuModels: undefined,
    });
    const broken = migrationFactsFromRow({
      ...row,
      facts: "{not json",
      approval: "pending",
      revokedAt: new Date(0),
      agentUrl: null,
    });
    expect(broken).toMatchObject({ approval: "pending", revoked: true, hasAgent: false, machines: undefined });
  });
});
