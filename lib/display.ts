// Graphical display per VM (ADR 013). x86_64 guests always have std VGA; aarch64 guests have a
// display only when asked for one: virtio-gpu (a PCI GPU, what distro kernels and AAVMF drive) or
// ramfb (a plain framebuffer the firmware sets up; no guest driver). Pure: used by the controller,
// the agent and the browser.
import { z } from "zod";
import type { Arch } from "./arch";
import { DISPLAYS, defaultDisplay, displayFits, type Display } from "./display-choices";

// The choices per arch and the default, without zod, are ./display-choices (what the VM wizard imports).
export { DISPLAYS, defaultDisplay, displayFits, displaysFor, type Display } from "./display-choices";

export const displaySchema = z.enum(DISPLAYS, { error: `display must be one of: ${DISPLAYS.join(", ")}` });

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
