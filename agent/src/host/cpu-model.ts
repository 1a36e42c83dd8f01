// CPU model from /proc/cpuinfo. arm64 kernels print no "model name"; like util-linux lscpu
// (lscpu-arm.c) we map "CPU implementer" / "CPU part" to vendor and core names.

const ARM_IMPLEMENTERS: Record<number, { vendor: string; parts: Record<number, string> }> = {
  0x41: {
    vendor: "ARM",
    parts: {
      0x810: "ARM810",
      0x920: "ARM920",
      0x922: "ARM922",
      0x926: "ARM926",
      0x940: "ARM940",
      0x946: "ARM946",
      0x966: "ARM966",
      0xa20: "ARM1020",
      0xa22: "ARM1022",
      0xa26: "ARM1026",
      0xb02: "ARM11 MPCore",
      0xb36: "ARM1136",
      0xb56: "ARM1156",
      0xb76: "ARM1176",
      0xc05: "Cortex-A5",
      0xc07: "Cortex-A7",
      0xc08: "Cortex-A8",
      0xc09: "Cortex-A9",
      0xc0d: "Cortex-A17",
      0xc0f: "Cortex-A15",
      0xc0e: "Cortex-A17",
      0xc14: "Cortex-R4",
      0xc15: "Cortex-R5",
      0xc17: "Cortex-R7",
      0xc18: "Cortex-R8",
      0xc20: "Cortex-M0",
      0xc21: "Cortex-M1",
      0xc23: "Cortex-M3",
      0xc24: "Cortex-M4",
      0xc27: "Cortex-M7",
      0xc60: "Cortex-M0+",
      0xd01: "Cortex-A32",
      0xd02: "Cortex-A34",
      0xd03: "Cortex-A53",
      0xd04: "Cortex-A35",
      0xd05: "Cortex-A55",
      0xd06: "Cortex-A65",
      0xd07: "Cortex-A57",
      0xd08: "Cortex-A72",
      0xd09: "Cortex-A73",
      0xd0a: "Cortex-A75",
      0xd0b: "Cortex-A76",
      0xd0c: "Neoverse-N1",
      0xd0d: "Cortex-A77",
      0xd0e: "Cortex-A76AE",
      0xd13: "Cortex-R52",
      0xd15: "Cortex-R82",
      0xd16: "Cortex-R52+",
      0xd20: "Cortex-M23",
      0xd21: "Cortex-M33",
      0xd22: "Cortex-M55",
      0xd23: "Cortex-M85",
      0xd40: "Neoverse-V1",
      0xd41: "Cortex-A78",
      0xd42: "Cortex-A78AE",
      0xd43: "Cortex-A65AE",
      0xd44: "Cortex-X1",
      0xd46: "Cortex-A510",
      0xd47: "Cortex-A710",
      0xd48: "Cortex-X2",
      0xd49: "Neoverse-N2",
      0xd4a: "Neoverse-E1",
      0xd4b: "Cortex-A78C",
      0xd4c: "Cortex-X1C",
      0xd4d: "Cortex-A715",
      0xd4e: "Cortex-X3",
      0xd4f: "Neoverse-V2",
      0xd80: "Cortex-A520",
      0xd81: "Cortex-A720",
      0xd82: "Cortex-X4",
      0xd84: "Neoverse-V3",
      0xd85: "Cortex-X925",
      0xd87: "Cortex-A725",
      0xd8e: "Neoverse-N3",
    },
  },
  0x42: { vendor: "Broadcom", parts: { 0x0f: "Brahma-B15", 0x100: "Brahma-B53", 0x516: "ThunderX2" } },
  0x43: {
    vendor: "Cavium",
    parts: {
      0x0a0: "ThunderX",
      0x0a1: "ThunderX-88XX",
      0x0a2: "ThunderX-81XX",
      0x0a3: "ThunderX-83XX",
      0x0af: "ThunderX2-99xx",
      0x0b0: "OcteonTX2",
      0x0b1: "OcteonTX2-98XX",
      0x0b2: "OcteonTX2-96XX",
      0x0b3: "OcteonTX2-95XX",
      0x0b4: "OcteonTX2-95XXN",
      0x0b5: "OcteonTX2-95XXMM",
      0x0b6: "OcteonTX2-95XXO",
      0x0b8: "ThunderX3-T110",
    },
  },
  0x44: { vendor: "DEC", parts: { 0xa10: "SA110", 0xa11: "SA1100" } },
  0x46: { vendor: "FUJITSU", parts: { 0x001: "A64FX" } },
  0x48: {
    vendor: "HiSilicon",
    parts: { 0xd01: "TaiShan-v110 (Kunpeng 920)", 0xd02: "TaiShan-v120", 0xd40: "Cortex-A76", 0xd41: "Cortex-A77" },
  },
  0x49: { vendor: "Infineon", parts: {} },
  0x4d: { vendor: "Motorola/Freescale", parts: {} },
  0x4e: { vendor: "NVIDIA", parts: { 0x000: "Denver", 0x003: "Denver 2", 0x004: "Carmel" } },
  0x50: { vendor: "APM", parts: { 0x000: "X-Gene" } },
  0x51: {
    vendor: "Qualcomm",
    parts: {
      0x001: "Oryon",
      0x00f: "Scorpion",
      0x02d: "Scorpion",
      0x04d: "Krait",
      0x06f: "Krait",
      0x201: "Kryo",
      0x205: "Kryo",
      0x211: "Kryo",
      0x800: "Falkor-V1/Kryo",
      0x801: "Kryo-V2",
      0x802: "Kryo-3XX-Gold",
      0x803: "Kryo-3XX-Silver",
      0x804: "Kryo-4XX-Gold",
      0x805: "Kryo-4XX-Silver",
      0xc00: "Falkor",
      0xc01: "Saphira",
    },
  },
  0x53: {
    vendor: "Samsung",
    parts: { 0x001: "exynos-m1", 0x002: "exynos-m3", 0x003: "exynos-m4", 0x004: "exynos-m5" },
  },
  0x56: { vendor: "Marvell", parts: { 0x131: "Feroceon-88FR131", 0x581: "PJ4/PJ4b", 0x584: "PJ4B-MP" } },
  0x61: {
    vendor: "Apple",
    parts: {
      0x000: "Swift",
      0x001: "Cyclone",
      0x002: "Typhoon",
      0x003: "Typhoon/Capri",
      0x004: "Twister",
      0x005: "Twister/Elba/Malta",
      0x006: "Hurricane",
      0x007: "Hurricane/Myst",
      0x022: "M1-Icestorm",
      0x023: "M1-Firestorm",
      0x024: "M1-Icestorm-Pro",
      0x025: "M1-Firestorm-Pro",
      0x028: "M1-Icestorm-Max",
      0x029: "M1-Firestorm-Max",
      0x032: "M2-Blizzard",
      0x033: "M2-Avalanche",
      0x034: "M2-Blizzard-Pro",
      0x035: "M2-Avalanche-Pro",
      0x038: "M2-Blizzard-Max",
      0x039: "M2-Avalanche-Max",
    },
  },
  0x66: { vendor: "Faraday", parts: { 0x526: "FA526", 0x626: "FA626" } },
  0x69: {
    vendor: "Intel",
    parts: {
      0x200: "i80200",
      0x210: "PXA250A",
      0x212: "PXA210A",
      0x242: "i80321-400",
      0x243: "i80321-600",
      0x290: "PXA250B/PXA26x",
      0x292: "PXA210B",
      0x2c2: "i80321-400-B0",
      0x2c3: "i80321-600-B0",
      0x2d0: "PXA250C/PXA255/PXA26x",
      0x2d2: "PXA210C",
      0x411: "PXA27x",
      0x41c: "IPX425-533",
      0x41d: "IPX425-400",
      0x41f: "IPX425-266",
      0x682: "PXA32x",
      0x683: "PXA930/PXA935",
      0x688: "PXA30x",
      0x689: "PXA31x",
      0xb11: "SA1110",
      0xc12: "IPX1200",
    },
  },
  0x6d: { vendor: "Microsoft", parts: { 0xd49: "Azure-Cobalt-100" } },
  0x70: {
    vendor: "Phytium",
    parts: {
      0x303: "FTC310",
      0x660: "FTC660",
      0x661: "FTC661",
      0x662: "FTC662",
      0x663: "FTC663",
      0x664: "FTC664",
      0x862: "FTC862",
    },
  },
  0xc0: { vendor: "Ampere", parts: { 0xac3: "Ampere-1", 0xac4: "Ampere-1a" } },
};

export interface CpuInfo {
  /** human-readable model, e.g. "AMD EPYC 7763" or "ARM Neoverse-N1" or "HiSilicon TaiShan-v110 (Kunpeng 920)" */
  model: string;
  /** which cpuinfo dialect the text was: lets the caller notice x86 cpuinfo seen by an arm64 process under qemu-user */
  kind: "x86" | "arm" | "unknown";
}

function hex(v: string | undefined): number | null {
  if (!v) return null;
  const n = Number.parseInt(v.trim(), v.trim().toLowerCase().startsWith("0x") ? 16 : 10);
  return Number.isFinite(n) ? n : null;
}

function armName(impl: number, part: number | null): string {
  const entry = ARM_IMPLEMENTERS[impl];
  const vendor = entry?.vendor ?? `implementer 0x${impl.toString(16).padStart(2, "0")}`;
  const partName = part === null ? null : entry?.parts[part];
  if (partName) return `${vendor} ${partName}`;
  return part === null ? vendor : `${vendor} part 0x${part.toString(16).padStart(3, "0")}`;
}

/** Pure parser for /proc/cpuinfo text (x86 or arm64 dialect). */
export function parseCpuInfo(text: string): CpuInfo {
  const blocks = text.split(/\n\s*\n/).map((block) => {
    const fields = new Map<string, string>();
    for (const line of block.split("\n")) {
      const i = line.indexOf(":");
      if (i < 0) continue;
      fields.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
    }
    return fields;
  });

  // arm64: one block per CPU; big.LITTLE systems have several distinct cores -> list each once.
  const armModels: string[] = [];
  for (const b of blocks) {
    const impl = hex(b.get("cpu implementer"));
    if (impl === null) continue;
    const name = armName(impl, hex(b.get("cpu part")));
    if (!armModels.includes(name)) armModels.push(name);
  }
  if (armModels.length > 0) return { model: armModels.join(" + "), kind: "arm" };

  for (const b of blocks) {
    const model = b.get("model name");
    if (model)
      return { model: model.replace(/\s+/g, " "), kind: b.has("vendor_id") || b.has("flags") ? "x86" : "unknown" };
  }
  for (const b of blocks) {
    const v = b.get("vendor_id");
    if (v) return { model: v, kind: "x86" };
  }
  return { model: "unknown", kind: "unknown" };
}
