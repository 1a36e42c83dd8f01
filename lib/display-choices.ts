// Which graphical displays an arch can have and which one a VM gets by default (ADR 013), without zod:
// the VM wizard imports this, so the validator stays out of its first-load JS (issue 16). lib/display.ts
// re-exports it with displaySchema and the resolution of a stored display.
import type { Arch } from "./arch-labels";

export const DISPLAYS = ["none", "vga", "virtio-gpu", "ramfb"] as const;
export type Display = (typeof DISPLAYS)[number];

const BY_ARCH: Record<Arch, readonly Display[]> = {
  x86_64: ["vga"],
  aarch64: ["none", "virtio-gpu", "ramfb"],
};

/** The displays an arch can have (x86_64: VGA only, it is built into q35 guests' expectations). */
export function displaysFor(arch: Arch): readonly Display[] {
  return BY_ARCH[arch];
}

export function displayFits(arch: Arch, display: Display): boolean {
  return BY_ARCH[arch].includes(display);
}

/**
 * The display a VM gets when it does not ask: x86_64 VGA; aarch64 follows the image — a UEFI disk
 * image gets virtio-gpu (firmware and installers draw on it), a kernel-boot image (serial console
 * only) gets none.
 */
export function defaultDisplay(arch: Arch, image?: { format: string } | null): Display {
  if (arch === "x86_64") return "vga";
  return image && image.format !== "kernel" ? "virtio-gpu" : "none";
}
