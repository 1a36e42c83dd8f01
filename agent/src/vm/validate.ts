// Pure checks of a VmSpec against what this host can do. Runs before any side effect, so a
// refused PUT leaves nothing behind.
import { ARCHES, type Arch } from "../../../lib/arch";
import { defaultDisplay, displayFits, type Display } from "../../../lib/display";
import type { HostFacts, VmSpec } from "../../../lib/schemas/agent-api";
import { chooseAccel, MACHINE_ALIAS, machineFamilyFits, type Accel } from "../qemu";
import { AgentError } from "./errors";

export interface HostLimits {
  hostArch: Arch;
  /** /dev/kvm usable for the host arch */
  kvm: boolean;
  cpuCount: number;
  memoryMb: number;
  /** qemu-system binary per guest arch, keyed by arch (also accepts "qemu-system-<arch>") */
  binaries: Record<string, string>;
  /** UEFI firmware, keyed `<arch>-code` / `<arch>-vars` (same keys as agent/src/facts.ts) */
  firmware: Record<string, string>;
  /** machine types per arch this host's QEMU has (facts.machines); absent = unknown, not checked */
  machines?: HostFacts["machines"];
}

export interface LaunchPlan {
  accel: Accel;
  emulated: boolean;
  binary: string;
  /** code + vars template when this VM boots through UEFI pflash */
  uefi: { code: string; varsTemplate: string } | null;
}

// q35 addresses 255 vCPUs without an emulated IOMMU; virt with GICv3 up to 512.
const MAX_VCPUS_BY_ARCH: Record<Arch, number> = { x86_64: 255, aarch64: 512 };

export function binaryFor(binaries: Record<string, string>, arch: Arch): string | undefined {
  return binaries[arch] ?? binaries[`qemu-system-${arch}`];
}

export function firmwareFor(
  firmware: Record<string, string>,
  arch: Arch,
): { code: string; varsTemplate: string } | null {
  const code = firmware[`${arch}-code`];
  const vars = firmware[`${arch}-vars`];
  return code && vars ? { code, varsTemplate: vars } : null;
}

/** aarch64 always boots disks and ISOs through UEFI; x86 only when the image says so (else SeaBIOS). */
export function needsUefi(spec: Pick<VmSpec, "arch" | "boot">): boolean {
  return spec.boot.type !== "kernel" && (spec.arch === "aarch64" || spec.boot.firmware === "uefi");
}

/** The display a spec gets: its own, else the arch/boot default (x86_64 VGA; aarch64 kernel boot none, disk virtio-gpu). */
export function specDisplay(spec: Pick<VmSpec, "arch" | "boot" | "display">): Display {
  return spec.display ?? defaultDisplay(spec.arch, { format: spec.boot.type === "kernel" ? "kernel" : "disk" });
}

/** "runs x86_64 natively and can emulate aarch64" — what this host can do, in words. */
export function describeHost(limits: Pick<HostLimits, "hostArch" | "kvm" | "binaries">): string {
  const native = binaryFor(limits.binaries, limits.hostArch) ? [limits.hostArch] : [];
  const emulated = ARCHES.filter((a) => !native.includes(a) && binaryFor(limits.binaries, a));
  const parts: string[] = [];
  if (native.length) parts.push(`runs ${native.join(", ")} natively${limits.kvm ? " (KVM)" : " (no KVM: TCG)"}`);
  if (emulated.length) parts.push(`can emulate ${emulated.join(", ")}`);
  return parts.length ? parts.join(" and ") : "has no QEMU system emulator installed";
}

/**
 * A pinned machine type must be of the board family the agent builds for (else `invalid`) and one
 * this host's QEMU has (else `conflict`: a VM pinned to pc-q35-8.2 cannot run on QEMU 7.2, and
 * silently running it on another version would change the guest's hardware under it).
 */
function checkMachineType(spec: VmSpec, limits: Pick<HostLimits, "machines">): void {
  const mt = spec.machineType;
  if (mt === undefined) return;
  if (!machineFamilyFits(spec.arch, mt))
    throw new AgentError(
      "invalid",
      `machine type ${mt} is not a ${MACHINE_ALIAS[spec.arch]} machine type (${spec.arch} VMs run on ${MACHINE_ALIAS[spec.arch]})`,
    );
  const known = limits.machines?.[spec.arch];
  if (known && !known.types.includes(mt))
    throw new AgentError(
      "conflict",
      `this host's QEMU has no machine type ${mt} for ${spec.arch} (its ${MACHINE_ALIAS[spec.arch]} is ${known.default}); ` +
        "the VM is pinned to it, so it can run only on a host whose QEMU has it",
    );
}

/** Throws AgentError (`conflict` for what this host cannot do, `invalid` for impossible sizes). */
export function validateSpec(spec: VmSpec, limits: HostLimits): LaunchPlan {
  const binary = binaryFor(limits.binaries, spec.arch);
  const what = `this host ${describeHost(limits)}`;
  if (!binary) {
    throw new AgentError("conflict", `${what}; it cannot run ${spec.arch} (qemu-system-${spec.arch} is not installed)`);
  }
  checkMachineType(spec, limits);
  const { accel, emulated } = chooseAccel(spec.arch, limits.hostArch, limits.kvm);
  if (emulated && !spec.allowEmulation) {
    const why = `it is an ${limits.hostArch} host`;
    throw new AgentError(
      "conflict",
      `${what}; it cannot run ${spec.arch} natively (${why}) and this VM does not allow emulation`,
    );
  }
  if (spec.vcpus > MAX_VCPUS_BY_ARCH[spec.arch]) {
    throw new AgentError(
      "invalid",
      `${spec.vcpus} vCPUs requested; an ${spec.arch} VM can have at most ${MAX_VCPUS_BY_ARCH[spec.arch]}`,
    );
  }
  // More vCPUs than host CPUs only time-share (KVM) or add host threads (MTTCG): slower, not bigger.
  if (spec.vcpus > limits.cpuCount) {
    throw new AgentError(
      "invalid",
      `${spec.vcpus} vCPUs requested; this host has ${limits.cpuCount} CPU${limits.cpuCount === 1 ? "" : "s"}`,
    );
  }
  if (spec.memoryMb > limits.memoryMb) {
    throw new AgentError(
      "invalid",
      `${spec.memoryMb} MiB of memory requested; this host has ${limits.memoryMb} MiB in total`,
    );
  }
  const display = specDisplay(spec);
  if (!displayFits(spec.arch, display)) {
    throw new AgentError(
      "invalid",
      `display ${display} is not available for ${spec.arch} guests (x86_64: vga; aarch64: none, virtio-gpu, ramfb)`,
    );
  }
  let uefi: LaunchPlan["uefi"] = null;
  if (needsUefi(spec)) {
    uefi = firmwareFor(limits.firmware, spec.arch);
    if (!uefi) {
      const pkg = spec.arch === "x86_64" ? "OVMF (package ovmf)" : "AAVMF (package qemu-efi-aarch64)";
      throw new AgentError("conflict", `this host has no UEFI firmware for ${spec.arch} guests: install ${pkg}`);
    }
  }
  return { accel, emulated, binary, uefi };
}
