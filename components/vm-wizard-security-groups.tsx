"use client";
// The wizard's security groups (ADR 052), under the network choice: the VM's project's groups, any
// number of them. A VM in a group has its port filtered from its first boot (the firewall rides in the
// spec the agent plugs the port with); in none, the port is unfiltered. Strings: messages/<locale>/wizard.json.
import Link from "next/link";
import { useTranslations } from "next-intl";

export type WizardSecurityGroup = { id: string; name: string; projectId: string; rules: unknown[] };

export function WizardSecurityGroups({
  groups,
  chosen,
  onChange,
}: {
  /** the groups of the VM's project */
  groups: readonly WizardSecurityGroup[];
  chosen: readonly string[];
  onChange: (ids: string[]) => void;
}) {
  const t = useTranslations("wizard");
  const toggle = (id: string, on: boolean) => onChange(on ? [...chosen, id] : chosen.filter((x) => x !== id));
  return (
    <fieldset className="mt-5" data-testid="wizard-security-groups">
      <legend className="mb-1 font-semibold">{t("securityGroups")}</legend>
      <p className="mb-2 text-sm text-slate-600">{t("securityGroupsHint")}</p>
      {groups.length === 0 ? (
        <p className="text-sm text-slate-600">
          {t.rich("noSecurityGroups", {
            link: (chunks) => (
              <Link href="/security-groups" className="text-indigo-700 underline">
                {chunks}
              </Link>
            ),
          })}
        </p>
      ) : (
        <div className="grid gap-2 sm:grid-cols-2">
          {groups.map((g) => (
            <label key={g.id} className="flex items-center gap-3 rounded-lg border border-slate-200 bg-white p-3">
              <input
                type="checkbox"
                name="securityGroup"
                value={g.id}
                checked={chosen.includes(g.id)}
                onChange={(e) => toggle(g.id, e.target.checked)}
              />
              <span>
                <span className="font-medium" translate="no">
                  {g.name}
                </span>{" "}
                <span className="text-xs text-slate-500">{t("securityGroupRules", { count: g.rules.length })}</span>
              </span>
            </label>
          ))}
        </div>
      )}
    </fieldset>
  );
}
