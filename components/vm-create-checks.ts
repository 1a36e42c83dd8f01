// The server's own rules for a new VM's name, CPU model and login (lib/schemas: the same the server action
// and the API apply), as the wizard shows them. The wizard loads this module only when it reaches its last
// steps (use-create-checks.ts): zod and the schemas stay out of /vms/new's first-load JS (issue 16).
import { cpuModelSchema } from "@/lib/schemas/agent-api";
import { hostnameSchema, vmDisplayNameSchema } from "@/lib/schemas/display-name";
import { loginPasswordSchema, sshPublicKeySchema } from "@/lib/schemas/ssh-keys";
import type { WizardLogin, WizardLoginErrors } from "./vm-wizard-login-request";

const firstIssue = (r: { success: boolean; error?: { issues: { message: string }[] } }, fallback: string) =>
  r.success ? null : (r.error?.issues[0]?.message ?? fallback);

/** The name's error in the server's words, or null (empty: not typed yet, the field says it is required). */
export function nameError(name: string): string | null {
  if (name === "") return null;
  return firstIssue(vmDisplayNameSchema.safeParse(name), "invalid name");
}

/** The model's error in the server's words, or null (empty = the default for the host). */
export function cpuModelError(value: string): string | null {
  if (!value.trim()) return null;
  return firstIssue(cpuModelSchema.safeParse(value.trim()), "invalid CPU model");
}

/** The login fields' errors in the server's words; empty fields are fine (all three are optional). */
export function loginErrors(v: WizardLogin, hasUserData: boolean): WizardLoginErrors {
  return {
    hostname: v.hostname.trim() ? firstIssue(hostnameSchema.safeParse(v.hostname), "invalid hostname") : null,
    password: !v.password
      ? null
      : hasUserData
        ? "give the password either here or in your user-data (password: …), not both"
        : firstIssue(loginPasswordSchema.safeParse(v.password), "invalid password"),
    sshKey: v.sshKey.trim() ? firstIssue(sshPublicKeySchema.safeParse(v.sshKey), "invalid public key") : null,
  };
}
