// Canonical CPU architecture names and the aliases every boundary accepts.
// Cloudpods/Debian/Go/Node all spell these differently; we store only the canonical pair.
import { z } from "zod";
import { ARCHES, type Arch } from "./arch-labels";

// The names and labels alone, without zod, are ./arch-labels (what client components import).
export { ARCHES, ARCH_LABELS, type Arch } from "./arch-labels";

const ALIASES: Record<string, Arch> = {
  x86_64: "x86_64",
  "x86-64": "x86_64",
  amd64: "x86_64",
  x64: "x86_64",
  intel64: "x86_64",
  aarch64: "aarch64",
  arm64: "aarch64",
  armv8: "aarch64",
  "armv8-a": "aarch64",
  armv8l: "aarch64",
  aarch64_be: "aarch64",
};

/** Every spelling accepted, for error messages and docs. */
export const ACCEPTED_ARCH_NAMES = Object.keys(ALIASES);

/** Canonical arch for a name, or null when the name is not an architecture we know. */
export function normalizeArch(input: string | null | undefined): Arch | null {
  if (typeof input !== "string") return null;
  const key = input.trim().toLowerCase();
  // Own keys only: "__proto__" or "constructor" must not come back as Object.prototype's members.
  return Object.hasOwn(ALIASES, key) ? ALIASES[key]! : null;
}

export function isArch(value: unknown): value is Arch {
  return typeof value === "string" && (ARCHES as readonly string[]).includes(value);
}

export function archErrorMessage(input: unknown): string {
  const shown = typeof input === "string" ? `"${input.slice(0, 40)}"` : "value";
  return `Unknown architecture ${shown}: use x86_64 (also amd64, x64, x86-64) or aarch64 (also arm64, armv8)`;
}

/** zod schema that accepts any alias and outputs the canonical name. */
export const archSchema = z.string({ error: "Architecture is required: x86_64 or aarch64" }).transform((value, ctx) => {
  const arch = normalizeArch(value);
  if (!arch) {
    ctx.addIssue({ code: "custom", message: archErrorMessage(value) });
    return z.NEVER;
  }
  return arch;
});

/** QEMU system emulator binary for a guest arch. */
export function qemuBinaryFor(arch: Arch): string {
  return arch === "x86_64" ? "qemu-system-x86_64" : "qemu-system-aarch64";
}
