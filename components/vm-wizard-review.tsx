"use client";
// The wizard's last step (vm-wizard.tsx): name, project, display, emulation, HA and CPU model, cloud-init
// user-data, the summary and the live placement preview. Its own module, loaded when the wizard reaches it
// (next/dynamic), so /vms/new's first load carries only the steps a person sees first (issue 16).
import type { UseQueryResult } from "@tanstack/react-query";
import { useTranslations } from "next-intl";
import { ArchBadge } from "@/components/badges";
import { useReasonText } from "@/components/placement-reasons";
import { WizardMobilityOptions } from "@/components/vm-wizard-mobility";
import { VmWizardLogin } from "@/components/vm-wizard-login";
import type { WizardLogin, WizardLoginErrors } from "@/components/vm-wizard-login-request";
import type { Arch } from "@/lib/arch-labels";
import { defaultDisplay, displaysFor, type Display } from "@/lib/display-choices";
import { useDisplayFormat } from "@/components/use-display-format";
import type { ImageDto } from "@/lib/schemas/api";
import type { ProjectDto } from "@/lib/schemas/projects";
import type { PlacementExplanation } from "@/lib/scheduler/schema";

export interface WizardReviewProps {
  arch: Arch | null;
  image: ImageDto | null;
  size: { vcpus: number; memoryMb: number; diskGb: number };
  /** the instance type the size comes from (ADR 050); null: a custom size */
  instanceTypeName?: string | null;
  name: string;
  onName: (v: string) => void;
  /** the name's error in the server's words (vm-create-checks.ts), null when fine or not checked yet */
  nameError: string | null;
  /** hostname and the default user's login (vm-wizard-login.tsx), with their errors */
  login: WizardLogin;
  onLogin: (v: WizardLogin) => void;
  loginErrors: WizardLoginErrors;
  /** the projects the user may create VMs in; undefined while loading */
  projects: ProjectDto[] | undefined;
  project: ProjectDto | null;
  onProject: (id: string) => void;
  display: Display | "";
  onDisplay: (v: Display) => void;
  allowEmulation: boolean;
  onAllowEmulation: (v: boolean) => void;
  ha: boolean;
  onHa: (v: boolean) => void;
  cpuModel: string;
  onCpuModel: (v: string) => void;
  cpuModelError: string | null;
  userData: string;
  onUserData: (v: string) => void;
  /** the chosen network's name; null: no network */
  networkName: string | null;
  securityGroupNames: readonly string[];
  preview: UseQueryResult<PlacementExplanation>;
  /** why the create failed (or the checks could not load) */
  error: string | null;
}

export function WizardReview(props: WizardReviewProps) {
  const {
    arch,
    image,
    size,
    instanceTypeName,
    name,
    onName,
    nameError,
    login,
    onLogin,
    loginErrors,
    projects,
    project,
    onProject,
    display,
    onDisplay,
    allowEmulation,
    onAllowEmulation,
    ha,
    onHa,
    cpuModel,
    onCpuModel,
    cpuModelError,
    userData,
    onUserData,
    networkName,
    securityGroupNames,
    preview,
    error,
  } = props;
  const t = useTranslations("wizard");
  const reasonText = useReasonText();
  const fmt = useDisplayFormat();
  const chosen = preview.data?.chosen;
  const runMode = chosen
    ? chosen.emulated
      ? t("runsAs.emulated", { hostArch: chosen.arch })
      : t(chosen.kvm ? "runsAs.kvm" : "runsAs.software")
    : "";
  return (
    <fieldset className="space-y-4">
      <legend className="mb-1 text-lg font-semibold">{t("steps.review")}</legend>
      <label className="block text-sm">
        <span className="font-medium">{t("name")}</span>
        <input
          value={name}
          onChange={(e) => onName(e.target.value)}
          required
          maxLength={63}
          aria-invalid={!!nameError}
          className="mt-1 w-72 rounded-md border border-slate-300 px-2 py-1.5"
          name="name"
        />
        {nameError && <span className="mt-1 block text-xs text-red-700">{nameError}</span>}
      </label>
      <VmWizardLogin name={name} value={login} onChange={onLogin} errors={loginErrors} />
      {projects && projects.length > 1 && (
        <label className="block text-sm">
          <span className="font-medium">{t("project")}</span>
          <select
            name="projectId"
            value={project?.id ?? ""}
            onChange={(e) => onProject(e.target.value)}
            className="ml-2 rounded-md border border-slate-300 px-2 py-1.5"
          >
            {projects.map((p) => (
              <option key={p.id} value={p.id}>
                {p.name}
              </option>
            ))}
          </select>
          <span className="mt-1 block text-xs text-slate-500">{t("projectHint")}</span>
        </label>
      )}
      {projects?.length === 0 && (
        <p role="alert" className="rounded-md bg-amber-50 px-3 py-2 text-sm text-amber-900">
          {t("noProject")}
        </p>
      )}
      {arch && displaysFor(arch).length > 1 && (
        <label className="block text-sm">
          <span className="font-medium">{t("display")}</span>
          <select
            name="display"
            value={display || defaultDisplay(arch, image)}
            onChange={(e) => onDisplay(e.target.value as Display)}
            className="ml-2 rounded-md border border-slate-300 px-2 py-1.5"
          >
            {displaysFor(arch).map((d) => (
              <option key={d} value={d}>
                {d === "none" ? t("displayNone") : d}
              </option>
            ))}
          </select>
          <span className="mt-1 block text-xs text-slate-500">{t("displayHint")}</span>
        </label>
      )}
      <label className="flex items-center gap-2 text-sm">
        <input
          type="checkbox"
          checked={allowEmulation}
          onChange={(e) => onAllowEmulation(e.target.checked)}
          name="allowEmulation"
        />
        {t("allowEmulation", { arch: String(arch) })}
      </label>
      {arch && (
        <WizardMobilityOptions
          arch={arch}
          cpuModel={cpuModel}
          cpuModelError={cpuModelError}
          onCpuModel={onCpuModel}
          ha={ha}
          onHa={onHa}
        />
      )}
      <details className="text-sm">
        <summary className="cursor-pointer font-medium">{t("userData")}</summary>
        <p className="mt-1 text-xs text-slate-500">{t("userDataHint")}</p>
        <textarea
          name="userData"
          value={userData}
          onChange={(e) => onUserData(e.target.value)}
          rows={5}
          maxLength={65536}
          className="mt-1 w-full rounded-md border border-slate-300 px-2 py-1.5 font-mono text-xs"
          placeholder="#cloud-config"
        />
      </details>
      <p className="text-sm text-slate-700">
        {arch} · {image?.name} ·{" "}
        {instanceTypeName ? <span data-testid="review-instance-type">{instanceTypeName}</span> : t("customSizeLower")} ·{" "}
        {size.vcpus} vCPU · {fmt.mib(size.memoryMb)} · {size.diskGb} GiB · {networkName ?? t("noNetworkLower")}
        {securityGroupNames.length > 0 && (
          <span data-testid="review-security-groups">
            {" "}
            · {t("securityGroupsNamed", { names: securityGroupNames.join(", ") })}
          </span>
        )}
        {project && <> · {t("projectNamed", { name: project.name })}</>}
      </p>
      {image?.format === "iso" && (
        <p className="text-sm text-slate-700" data-testid="iso-install-note">
          {t("isoNote", { disk: size.diskGb })}
        </p>
      )}
      <section
        aria-label={t("placementPreview")}
        data-testid="placement-preview"
        className="rounded-lg border border-slate-200 bg-white p-4 text-sm"
      >
        <h3 className="mb-2 font-semibold">{t("whereItRuns")}</h3>
        {preview.isPending && <p className="text-slate-500">{t("checkingFleet")}</p>}
        {preview.isError && (
          <p role="alert" className="text-red-700">
            {preview.error.message}
          </p>
        )}
        {preview.data && (
          <>
            {preview.data.ok && preview.data.chosen ? (
              <p data-testid="preview-chosen">
                {t.rich("landsOn", { name: preview.data.chosen.name, b: (chunks) => <strong>{chunks}</strong> })}{" "}
                <ArchBadge arch={preview.data.chosen.arch} emulated={preview.data.chosen.emulated} /> —{" "}
                {t("eligible", { n: preview.data.eligibleCount })}
                <span className="mt-1 block" data-testid="preview-run-mode">
                  {t("howItRuns", { mode: runMode })}
                </span>
              </p>
            ) : (
              <p data-testid="preview-none" className="font-medium text-red-700">
                {preview.data.reason}
              </p>
            )}
            {preview.data.rejected.length > 0 && (
              <ul className="mt-2 space-y-1" data-testid="preview-rejected">
                {preview.data.rejected.map((r) => (
                  <li key={r.id}>
                    <strong>{r.name}</strong> <ArchBadge arch={r.arch} />: {r.reasons.map(reasonText).join("; ")}
                  </li>
                ))}
              </ul>
            )}
          </>
        )}
      </section>
      {error && (
        <p role="alert" className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">
          {error}
        </p>
      )}
    </fieldset>
  );
}
