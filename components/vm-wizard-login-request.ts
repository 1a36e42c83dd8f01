// The wizard's guest-identity fields (vm-wizard-login.tsx) as state and as the create request's part.
// Import-free on purpose: vm-wizard.tsx is on /vms/new's first load, which must not carry zod (issue 16);
// the checks live in vm-create-checks.ts, loaded on demand.
export type WizardLogin = { hostname: string; password: string; sshKey: string };
export const EMPTY_LOGIN: WizardLogin = { hostname: "", password: "", sshKey: "" };
export type WizardLoginErrors = Record<keyof WizardLogin, string | null>;

/** Only the fields that were filled in. */
export function loginRequest(v: WizardLogin) {
  return {
    ...(v.hostname.trim() ? { hostname: v.hostname.trim() } : {}),
    ...(v.password ? { password: v.password } : {}),
    ...(v.sshKey.trim() ? { sshKey: v.sshKey.trim() } : {}),
  };
}
