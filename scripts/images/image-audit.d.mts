/** Problems found in the root of an image of `kind` (controller | agent); empty when clean. */
export function auditImageRoot(root: string, kind: "controller" | "agent"): string[];
