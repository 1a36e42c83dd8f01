"use client";
// The wizard's options for VMs that move (issue 14): HA, and the guest CPU model (advanced), pinned
// for the VM's life. The server checks the model against the arch (createVmSchema + create); the wizard
// passes the model's error in the server's words (vm-create-checks.ts, loaded on demand).
import { useTranslations } from "next-intl";
import type { Arch } from "@/lib/arch-labels";

// Suggestions only: any name QEMU knows is accepted. "host" on x86_64 ties the VM to identical CPUs.
const SUGGESTED: Record<Arch, string[]> = {
  x86_64: ["Haswell-noTSX", "Skylake-Server", "Cascadelake-Server", "EPYC", "Nehalem", "qemu64", "max", "host"],
  aarch64: ["cortex-a57", "cortex-a72", "neoverse-n1", "max", "host"],
};

export function WizardMobilityOptions(props: {
  arch: Arch;
  cpuModel: string;
  /** the model's error (null: fine or empty) */
  cpuModelError: string | null;
  onCpuModel: (v: string) => void;
  ha: boolean;
  onHa: (v: boolean) => void;
}) {
  const error = props.cpuModelError;
  const t = useTranslations("wizard");
  const common = useTranslations("common");
  return (
    <>
      <label className="flex items-start gap-2 text-sm">
        <input
          type="checkbox"
          className="mt-1"
          name="ha"
          data-testid="wizard-ha"
          checked={props.ha}
          onChange={(e) => props.onHa(e.target.checked)}
        />
        <span>
          {t("ha")}
          <span className="block text-xs text-slate-500">{common("haCaveat")}</span>
        </span>
      </label>
      <details className="text-sm">
        <summary className="cursor-pointer font-medium">{t("cpuModel")}</summary>
        <p className="mt-1 text-xs text-slate-500">
          {t("cpuModelHint")} {props.arch === "x86_64" ? t("cpuModelHintX86") : ""}
          {props.arch === "aarch64" ? t("cpuModelHintArm") : ""}
        </p>
        <input
          name="cpuModel"
          data-testid="wizard-cpu-model"
          list={`cpu-models-${props.arch}`}
          value={props.cpuModel}
          maxLength={64}
          onChange={(e) => props.onCpuModel(e.target.value)}
          aria-invalid={error !== null}
          className="mt-1 rounded-md border border-slate-300 px-2 py-1.5 font-mono text-xs"
          placeholder={t("cpuModelPlaceholder")}
        />
        <datalist id={`cpu-models-${props.arch}`}>
          {SUGGESTED[props.arch].map((m) => (
            <option key={m} value={m} />
          ))}
        </datalist>
        {error && <span className="ml-2 text-xs text-red-700">{error}</span>}
      </details>
    </>
  );
}
