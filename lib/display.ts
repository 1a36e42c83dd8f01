// Graphical display per VM (ADR 013). x86_64 guests always have std VGA; aarch64 guests have a
// display only when asked for one: virtio-gpu (a PCI GPU, what distro kernels and AAVMF drive) or
// ramfb (a plain framebuffer the firmware sets up; no guest driver). Pure: used by the controller,
// the agent and the browser.
import { z } from "zod";
import type { Arch } from "./arch";

export const DISPLAYS = ["none", "vga", "virtio-gpu", "ramfb"] as const;
export type Display = (typeof DISPLAYS)[number];
export const displaySchema = z.enum(DISPLAYS, { error: `display must be one of: ${DISPLAYS.join(", ")}` });

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

/** A stored/optional display resolved to what the VM really has. */
export function effectiveDisplay(
  arch: Arch,
  display: string | null | undefined,
  image?: { format: string } | null,
): Display {
  const parsed = displaySchema.safeParse(display);
  if (parsed.success && displayFits(arch, parsed.data)) return parsed.data;
  return defaultDisplay(arch, image);
}

export function hasDisplay(display: Display): boolean {
  return display !== "none";
}
