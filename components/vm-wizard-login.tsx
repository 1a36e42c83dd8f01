"use client";
// The wizard's guest identity (issue 17): the hostname (derived from the display name, editable) and a
// login for the image's default user — a password and/or an SSH public key, delivered by cloud-init
// (the server keeps the password only as a SHA-512 crypt hash). lib/hostname.ts carries a
// transliteration table (any-ascii), so it is loaded only once a name is typed, off the first load.
import { useTranslations } from "next-intl";
import { useEffect, useState } from "react";
import type { WizardLogin, WizardLoginErrors } from "./vm-wizard-login-request";

/** The hostname the server will derive from `name` (lib/hostname.ts, loaded on demand); "" until known. */
function useDerivedHostname(name: string): string {
  const [derived, setDerived] = useState<{ name: string; hostname: string }>({ name: "", hostname: "" });
  useEffect(() => {
    let live = true;
    if (name.trim())
      void import("@/lib/hostname").then((m) => live && setDerived({ name, hostname: m.hostnameFromName(name) }));
    return () => {
      live = false;
    };
  }, [name]);
  return name.trim() && derived.name === name ? derived.hostname : "";
}

export function VmWizardLogin({
  name,
  value,
  onChange,
  errors,
}: {
  name: string;
  value: WizardLogin;
  onChange: (v: WizardLogin) => void;
  /** in the server's words (vm-create-checks.ts); all null until the checks are loaded */
  errors: WizardLoginErrors;
}) {
  const t = useTranslations("vmWizardLogin");
  const derived = useDerivedHostname(name);
  const field = "mt-1 block w-full rounded-md border border-slate-300 px-3 py-1.5";
  return (
    <fieldset className="grid gap-3 text-sm" data-testid="wizard-login">
      <legend className="mb-1 font-medium">{t("legend")}</legend>
      <label className="block">
        <span className="font-medium">{t("hostname")}</span>
        <input
          data-testid="wizard-hostname"
          className={`${field} font-mono`}
          value={value.hostname}
          placeholder={derived}
          aria-invalid={!!errors.hostname}
          aria-describedby="wizard-hostname-hint"
          onChange={(e) => onChange({ ...value, hostname: e.target.value })}
        />
        <span
          id="wizard-hostname-hint"
          className="mt-1 block text-xs text-slate-600"
          data-testid="wizard-hostname-hint"
        >
          {derived ? t("hostnameDerived", { hostname: value.hostname.trim() || derived }) : t("hostnameHint")}
        </span>
        {errors.hostname && <span className="mt-1 block text-xs text-red-700">{errors.hostname}</span>}
      </label>
      <label className="block">
        <span className="font-medium">{t("password")}</span>
        <input
          type="password"
          autoComplete="new-password"
          data-testid="wizard-password"
          className={field}
          value={value.password}
          aria-invalid={!!errors.password}
          onChange={(e) => onChange({ ...value, password: e.target.value })}
        />
        {errors.password && <span className="mt-1 block text-xs text-red-700">{errors.password}</span>}
      </label>
      <label className="block">
        <span className="font-medium">{t("sshKey")}</span>
        <textarea
          data-testid="wizard-ssh-key"
          rows={2}
          className={`${field} font-mono text-xs`}
          value={value.sshKey}
          placeholder="ssh-ed25519 AAAA… you@laptop"
          aria-invalid={!!errors.sshKey}
          onChange={(e) => onChange({ ...value, sshKey: e.target.value })}
        />
        {errors.sshKey && <span className="mt-1 block text-xs text-red-700">{errors.sshKey}</span>}
      </label>
      <p className="text-xs text-slate-600">{t("loginHint")}</p>
    </fieldset>
  );
}
