import { describe, expect, it, beforeAll, afterAll } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { hostFactsSchema } from "../../../lib/schemas/agent-api";
import { parseCpuInfo } from "./cpu-model";
import {
  archRefusal,
  computeCapabilities,
  detectFacts,
  elfArch,
  findFirmware,
  resolveMachineId,
  UsageSampler,
} from "./facts";

function armCpuinfo(cores: Array<[string, string]>): string {
  return (
    cores
      .map(
        ([impl, part], i) => `processor\t: ${i}
BogoMIPS\t: 50.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp ssbs
CPU implementer\t: ${impl}
CPU architecture: 8
CPU variant\t: 0x3
CPU part\t: ${part}
CPU revision\t: 1`,
      )
      .join("\n\n") + "\n"
  );
}

const X86 = `processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC 7763 64-Core Processor
flags\t\t: fpu vme de pse

processor\t: 1
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7763 64-Core Processor
`;

describe("parseCpuInfo", () => {
  it.each([
    ["x86 model name", X86, "AMD EPYC 7763 64-Core Processor", "x86"],
    [
      "Graviton2 / Ampere Altra",
      armCpuinfo([
        ["0x41", "0xd0c"],
        ["0x41", "0xd0c"],
      ]),
      "ARM Neoverse-N1",
      "arm",
    ],
    ["Graviton3", armCpuinfo([["0x41", "0xd40"]]), "ARM Neoverse-V1", "arm"],
    ["Neoverse-N2", armCpuinfo([["0x41", "0xd49"]]), "ARM Neoverse-N2", "arm"],
    ["Grace / Graviton4", armCpuinfo([["0x41", "0xd4f"]]), "ARM Neoverse-V2", "arm"],
    ["Raspberry Pi 3", armCpuinfo([["0x41", "0xd03"]]), "ARM Cortex-A53", "arm"],
    ["Cortex-A57 (qemu virt)", armCpuinfo([["0x41", "0xd07"]]), "ARM Cortex-A57", "arm"],
    [
      "RK3399 big.LITTLE",
      armCpuinfo([
        ["0x41", "0xd03"],
        ["0x41", "0xd03"],
        ["0x41", "0xd08"],
        ["0x41", "0xd08"],
      ]),
      "ARM Cortex-A53 + ARM Cortex-A72",
      "arm",
    ],
    ["Kunpeng 920", armCpuinfo([["0x48", "0xd01"]]), "HiSilicon TaiShan-v110 (Kunpeng 920)", "arm"],
    ["Kunpeng TaiShan-v120", armCpuinfo([["0x48", "0xd02"]]), "HiSilicon TaiShan-v120", "arm"],
    ["Phytium FT-2000+/64", armCpuinfo([["0x70", "0x662"]]), "Phytium FTC662", "arm"],
    ["Phytium S2500", armCpuinfo([["0x70", "0x663"]]), "Phytium FTC663", "arm"],
    ["Phytium FTC660", armCpuinfo([["0x70", "0x660"]]), "Phytium FTC660", "arm"],
    ["Phytium FTC310", armCpuinfo([["0x70", "0x303"]]), "Phytium FTC310", "arm"],
    ["AmpereOne", armCpuinfo([["0xc0", "0xac3"]]), "Ampere Ampere-1", "arm"],
    ["ThunderX2", armCpuinfo([["0x43", "0x0af"]]), "Cavium ThunderX2-99xx", "arm"],
    ["Qualcomm Falkor", armCpuinfo([["0x51", "0xc00"]]), "Qualcomm Falkor", "arm"],
    [
      "Apple M1 (Asahi)",
      armCpuinfo([
        ["0x61", "0x022"],
        ["0x61", "0x023"],
      ]),
      "Apple M1-Icestorm + Apple M1-Firestorm",
      "arm",
    ],
    ["unknown ARM part", armCpuinfo([["0x41", "0xfff"]]), "ARM part 0xfff", "arm"],
    ["unknown implementer", armCpuinfo([["0x99", "0x001"]]), "implementer 0x99 part 0x001", "arm"],
    ["empty", "", "unknown", "unknown"],
  ])("%s", (_name, text, model, kind) => {
    expect(parseCpuInfo(text)).toEqual({ model, kind });
  });

  it("prefers implementer/part over a 32-bit style model name", () => {
    const text = armCpuinfo([["0x41", "0xd08"]]).replace(
      "processor\t: 0",
      "processor\t: 0\nmodel name\t: ARMv8 Processor rev 3 (v8l)",
    );
    expect(parseCpuInfo(text).model).toBe("ARM Cortex-A72");
  });
});

describe("computeCapabilities", () => {
  const both = { x86_64: "/usr/bin/qemu-system-x86_64", aarch64: "/usr/bin/qemu-system-aarch64" };
  it("KVM host runs its own arch natively, the other emulated", () => {
    expect(computeCapabilities("x86_64", true, both, 8)).toEqual({
      nativeArches: ["x86_64"],
      emulatedArches: ["aarch64"],
      maxVcpusNative: 8,
      maxVcpusEmulated: 8,
    });
  });
  it("no KVM: the host arch is still native (TCG), only the other arch is emulated", () => {
    expect(computeCapabilities("aarch64", false, both, 2)).toEqual({
      nativeArches: ["aarch64"],
      emulatedArches: ["x86_64"],
      maxVcpusNative: 2,
      maxVcpusEmulated: 2,
    });
  });
  it("KVM but no binary for the host arch: nothing native", () => {
    expect(computeCapabilities("aarch64", true, { x86_64: both.x86_64 }, 4)).toEqual({
      nativeArches: [],
      emulatedArches: ["x86_64"],
      maxVcpusNative: null,
      maxVcpusEmulated: 4,
    });
  });
  it("no binaries at all", () => {
    expect(computeCapabilities("x86_64", true, {}, 4)).toEqual({
      nativeArches: [],
      emulatedArches: [],
      maxVcpusNative: null,
      maxVcpusEmulated: null,
    });
  });
});

describe("archRefusal", () => {
  const facts = {
    arch: "x86_64" as const,
    nativeArches: ["x86_64" as const],
    emulatedArches: [] as ("x86_64" | "aarch64")[],
  };
  it("names what the host can run", () => {
    expect(archRefusal(facts, "aarch64", true)).toMatch(/cannot run aarch64.*can run: x86_64 \(native, KVM\)/);
    expect(archRefusal(facts, "x86_64", false)).toBeNull();
  });
  it("emulation-only arch refused when emulation is not allowed", () => {
    expect(archRefusal({ ...facts, emulatedArches: ["aarch64"] }, "aarch64", false)).toMatch(/allowEmulation is false/);
    expect(archRefusal({ ...facts, emulatedArches: ["aarch64"] }, "aarch64", true)).toBeNull();
  });
});

describe("host detection (this machine)", () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pa-facts-"));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("produces facts matching the contract", async () => {
    const facts = await detectFacts({ stateDir: dir, machineId: "test-host-1" });
    expect(hostFactsSchema.parse(facts)).toEqual(facts);
    expect(facts.machineId).toBe("test-host-1");
    expect(facts.cpuCount).toBeGreaterThan(0);
    expect(facts.memoryMb).toBeGreaterThan(0);
    expect(facts.diskGb).toBeGreaterThan(0);
    // This machine has Debian's qemu + ovs installed and no openvswitch kernel module.
    if (fs.existsSync("/usr/bin/qemu-system-aarch64"))
      expect(facts.qemu.binaries.aarch64).toBe("/usr/bin/qemu-system-aarch64");
    // No ovsdb-server runs for the system OVS here: installed but not available.
    if (fs.existsSync("/usr/bin/ovs-vsctl") && !fs.existsSync("/var/run/openvswitch/db.sock"))
      expect(facts.ovs).toMatchObject({ available: false, datapath: null });
    if (facts.qemu.binaries.x86_64) expect(facts.qemu.version).toMatch(/^\d+\.\d+/);
    for (const a of facts.nativeArches) expect(facts.emulatedArches).not.toContain(a);
    // Migration compatibility (issue 14), from this machine's QEMU 7.2 and kernel.
    if (facts.qemu.binaries.x86_64) {
      expect(facts.machines?.x86_64?.default).toMatch(/^pc-q35-\d+\.\d+/);
      expect(facts.machines?.x86_64?.types).toEqual(expect.arrayContaining(["q35", facts.machines!.x86_64!.default]));
      expect(facts.machines?.x86_64?.types).not.toContain("none");
    }
    if (facts.qemu.binaries.aarch64) expect(facts.machines?.aarch64?.default).toMatch(/^virt-\d+\.\d+/);
    expect([4, 16, 64]).toContain(facts.pageSizeKb);
    if (facts.arch === "x86_64") expect([facts.pageSizeKb, facts.gicVersion, facts.cpuId]).toEqual([4, null, null]);
  });

  it("kvm off keeps the host arch native (TCG) and the other arch emulated", async () => {
    const facts = await detectFacts({ stateDir: dir, machineId: "x", kvm: "off" });
    expect(facts.kvm).toBe(false);
    expect(facts.nativeArches).toEqual([facts.arch]);
    expect(facts.emulatedArches).not.toContain(facts.arch);
  });

  it("reads ELF machine of binaries", () => {
    expect(elfArch(process.execPath)).toBe(os.arch() === "arm64" ? "aarch64" : "x86_64");
    expect(elfArch("/etc/hostname")).toBeNull();
  });

  it("finds firmware under a root", () => {
    const root = path.join(dir, "root");
    fs.mkdirSync(path.join(root, "usr/share/AAVMF"), { recursive: true });
    fs.writeFileSync(path.join(root, "usr/share/AAVMF/AAVMF_CODE.fd"), "");
    expect(findFirmware(root)).toEqual({}); // CODE without its VARS is useless
    fs.writeFileSync(path.join(root, "usr/share/AAVMF/AAVMF_VARS.fd"), "");
    expect(findFirmware(root)).toEqual({
      "aarch64-code": path.join(root, "usr/share/AAVMF/AAVMF_CODE.fd"),
      "aarch64-vars": path.join(root, "usr/share/AAVMF/AAVMF_VARS.fd"),
    });
  });

  it("machine id: override, /etc/machine-id, else generated and persisted", async () => {
    expect(await resolveMachineId(dir, "agent-b")).toBe("agent-b");
    await expect(resolveMachineId(dir, "../x")).rejects.toThrow(/machine id/);
    const etc = path.join(dir, "etc-machine-id");
    fs.writeFileSync(etc, "abc123\n");
    expect(await resolveMachineId(dir, undefined, etc)).toBe("abc123");
    const sd = path.join(dir, "gen");
    const a = await resolveMachineId(sd, undefined, path.join(dir, "missing"));
    expect(a).toMatch(/^[0-9a-f]{32}$/);
    expect(await resolveMachineId(sd, undefined, path.join(dir, "missing"))).toBe(a);
  });

  it("samples usage", async () => {
    const s = new UsageSampler(dir);
    const u = await s.sample();
    expect(u.memoryUsedMb).toBeGreaterThan(0);
    expect(u.cpuPct).toBeGreaterThanOrEqual(0);
    expect(u.loadAvg).toHaveLength(3);
  });
});
