import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  detectGicVersion,
  parseCpuId,
  parseGicCompatible,
  parseInterruptsGic,
  parseMachineHelp,
  parsePageSize,
  parseSmapsPageSize,
} from "./compat";

// Excerpts of QEMU 7.2's own output (Debian bookworm), lines in the order it prints them.
const X86_HELP = `Supported machines are:
microvm              microvm (i386)
pc                   Standard PC (i440FX + PIIX, 1996) (alias of pc-i440fx-7.2)
pc-i440fx-7.2        Standard PC (i440FX + PIIX, 1996) (default)
pc-i440fx-7.1        Standard PC (i440FX + PIIX, 1996)
q35                  Standard PC (Q35 + ICH9, 2009) (alias of pc-q35-7.2)
pc-q35-7.2           Standard PC (Q35 + ICH9, 2009)
pc-q35-7.1           Standard PC (Q35 + ICH9, 2009)
pc-q35-4.0.1         Standard PC (Q35 + ICH9, 2009)
isapc                ISA-only PC
none                 empty machine
x-remote             Experimental remote machine
`;
const ARM_HELP = `Supported machines are:
akita                Sharp SL-C1000 (Akita) PDA (PXA270)
none                 empty machine
virt-7.1             QEMU 7.1 ARM Virtual Machine
virt                 QEMU 7.2 ARM Virtual Machine (alias of virt-7.2)
virt-7.2             QEMU 7.2 ARM Virtual Machine
xlnx-versal-virt     Xilinx Versal Virtual development board
`;

const armCpuinfo = (impl: string, part: string, cpus = 2) =>
  Array.from(
    { length: cpus },
    (_, i) => `processor\t: ${i}
BogoMIPS\t: 200.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm jscvt fcma dcpop asimddp asimdfhm
CPU implementer\t: ${impl}
CPU architecture: 8
CPU variant\t: 0x1
CPU part\t: ${part}
CPU revision\t: 0
`,
  ).join("\n");

describe("parseMachineHelp", () => {
  it("x86_64: every machine but none; the default is what q35 resolves to (not QEMU's own default, pc)", () => {
    const m = parseMachineHelp(X86_HELP, "x86_64");
    expect(m?.default).toBe("pc-q35-7.2");
    expect(m?.types).toEqual([
      "microvm",
      "pc",
      "pc-i440fx-7.2",
      "pc-i440fx-7.1",
      "q35",
      "pc-q35-7.2",
      "pc-q35-7.1",
      "pc-q35-4.0.1",
      "isapc",
      "x-remote",
    ]);
  });

  it("aarch64: virt resolves to virt-7.2", () => {
    const m = parseMachineHelp(ARM_HELP, "aarch64");
    expect(m).toEqual({ default: "virt-7.2", types: ["akita", "virt-7.1", "virt", "virt-7.2", "xlnx-versal-virt"] });
  });

  it("no alias line: unknown (null); an alias without a target is its own default", () => {
    expect(parseMachineHelp(ARM_HELP, "x86_64")).toBeNull();
    expect(parseMachineHelp("q35   Standard PC (Q35 + ICH9, 2009)\n", "x86_64")).toEqual({
      default: "q35",
      types: ["q35"],
    });
  });
});

describe("page size", () => {
  it("getconf PAGESIZE bytes -> KiB; odd values are unknown", () => {
    expect(parsePageSize("4096\n")).toBe(4);
    expect(parsePageSize("65536\n")).toBe(64);
    expect(parsePageSize("16384")).toBe(16);
    expect(parsePageSize("12288")).toBeNull();
    expect(parsePageSize("")).toBeNull();
  });

  it("smaps KernelPageSize", () => {
    const smaps = `55d0c0a00000-55d0c0a2c000 r--p 00000000 08:01 1835 /usr/bin/node
Size:                176 kB
KernelPageSize:       64 kB
MMUPageSize:          64 kB
`;
    expect(parseSmapsPageSize(smaps)).toBe(64);
    expect(parseSmapsPageSize("Size: 4 kB\n")).toBeNull();
  });
});

describe("GIC version", () => {
  it("from /proc/interrupts: GICv3 (Kunpeng, Altra), GIC-0 / GICv2 (older boards), nothing on x86", () => {
    const v3 = `           CPU0       CPU1
 11:      40721      39012     GICv3  27 Level     arch_timer
 13:          0          0     GICv3  33 Level     uart-pl011
IPI0:      1620       1587       Rescheduling interrupts
`;
    const gic0 = `           CPU0       CPU1
 18:     112233     110000     GIC-0  27 Level     arch_timer
 20:          0          0     GIC-0  33 Level     uart-pl011
`;
    const x86 = `            CPU0       CPU1
   0:         36          0   IO-APIC   2-edge      timer
   8:          0          0   IO-APIC   8-edge      rtc0
`;
    expect(parseInterruptsGic(v3)).toBe(3);
    expect(parseInterruptsGic(gic0)).toBe(2);
    expect(parseInterruptsGic(gic0.replaceAll("GIC-0", "GICv2"))).toBe(2);
    expect(parseInterruptsGic(x86)).toBeNull();
  });

  it("from the devicetree's compatible strings", () => {
    expect(parseGicCompatible("arm,gic-v3\0")).toBe(3);
    expect(parseGicCompatible("arm,gic-400\0arm,cortex-a15-gic\0")).toBe(2);
    expect(parseGicCompatible("qcom,pdc\0")).toBeNull();
  });

  const root = fs.mkdtempSync(path.join(os.tmpdir(), "pa-gic-"));
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
  it("detectGicVersion falls back to the devicetree when /proc/interrupts does not say", () => {
    fs.mkdirSync(path.join(root, "proc"), { recursive: true });
    fs.writeFileSync(path.join(root, "proc/interrupts"), "           CPU0\n");
    expect(detectGicVersion(root)).toBeNull();
    const ic = path.join(root, "sys/firmware/devicetree/base/interrupt-controller@8000000");
    fs.mkdirSync(ic, { recursive: true });
    fs.writeFileSync(path.join(ic, "compatible"), "arm,gic-v3\0");
    expect(detectGicVersion(root)).toBe(3);
  });
});

describe("parseCpuId (MIDR implementer / part)", () => {
  it.each([
    ["HiSilicon Kunpeng 920", "0x48", "0xd01"],
    ["Ampere Altra (Neoverse-N1)", "0x41", "0xd0c"],
    ["Phytium FT-2000+", "0x70", "0x662"],
  ])("%s", (_name, impl, part) => {
    expect(parseCpuId(armCpuinfo(impl, part))).toEqual({ implementer: impl, part });
  });

  it("normalises hex case and leading zeros; x86 cpuinfo has none", () => {
    expect(parseCpuId(armCpuinfo("0x41", "0xD0C"))).toEqual({ implementer: "0x41", part: "0xd0c" });
    expect(parseCpuId(armCpuinfo("0x046", "0x001"))).toEqual({ implementer: "0x46", part: "0x1" });
    const x86 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7763 64-Core Processor\n";
    expect(parseCpuId(x86)).toBeNull();
  });
});
