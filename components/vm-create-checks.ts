// The server's own rules for a new VM's name and CPU model (lib/schemas: the same the server action, the
// API and the agent apply), as the wizard shows them. The wizard loads this module only when it reaches
// its last steps (use-create-checks.ts): zod and the schemas stay out of /vms/new's first-load JS (issue 16).
import { cpuModelSchema, vmNameSchema } from "@/lib/schemas/agent-api";

/** The name's error in the server's words, or null (empty: not typed yet, the field says it is required). */
export function nameError(name: string): string | null {
  if (name === "") return null;
  const check = vmNameSchema.safeParse(name);
  return check.success ? null : (check.error.issues[0]?.message ?? "invalid name");
}

/** The model's error in the server's words, or null (empty = the default for the host). */
export function cpuModelError(value: string): string | null {
  if (!value.trim()) return null;
  const check = cpuModelSchema.safeParse(value.trim());
  return check.success ? null : (check.error.issues[0]?.message ?? "invalid CPU model");
}
