"use client";
// The wizard's options for VMs that move (issue 14): HA, and the guest CPU model (advanced), pinned
// for the VM's life. The server checks the model against the arch (createVmSchema + create); the wizard
// passes the model's error in the server's words (vm-create-checks.ts, loaded on demand).
import type { Arch } from "@/lib/arch-labels";
import { HA_CAVEAT } from "@/components/ha-caveat";

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
          High availability: restart on another host if its host dies
          <span className="block text-xs text-slate-500">{HA_CAVEAT}</span>
        </span>
      </label>
      <details className="text-sm">
        <summary className="cursor-pointer font-medium">Advanced: CPU model (optional)</summary>
        <p className="mt-1 text-xs text-slate-500">
          Pinned for the VM&apos;s life; it decides which hosts it can live-migrate to. Empty: the default for how the
          host runs it. {props.arch === "x86_64" ? "“host” only moves between identical CPUs." : ""}
          {props.arch === "aarch64" ? "With KVM on aarch64 the guest always gets the host's CPU." : ""}
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
          placeholder="default"
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
