// The two canonical architectures and how pages label them, without zod: client components import this so
// the validator stays out of their first-load JS (issue 16). lib/arch.ts re-exports it with the aliases and archSchema.
export const ARCHES = ["x86_64", "aarch64"] as const;
export type Arch = (typeof ARCHES)[number];

export const ARCH_LABELS: Record<Arch, string> = { x86_64: "x86_64", aarch64: "aarch64 (ARM64)" };
