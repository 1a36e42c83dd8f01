"use client";
// The wizard's size step (vm-wizard.tsx): the instance types an admin defined for the chosen arch
// (ADR 050; fetched from /api/v1/instance-types like the placement preview, no validator in the
// page's first-load JS) and, for roles with vm:customSize, a custom size with quick presets.
import { useTranslations } from "next-intl";
import { useDisplayFormat } from "@/components/use-display-format";
import { formatInstanceSize } from "@/lib/instance-type-size";
import type { Arch } from "@/lib/arch-labels";
import { CUSTOM_SIZE, type WizardInstanceType } from "@/components/vm-wizard-size-choice";

export { CUSTOM_SIZE, type WizardInstanceType };
export type WizardSize = { vcpus: number; memoryMb: number; diskGb: number };

// Names are message keys wizard.presets.<name>.
const PRESETS = [
  { name: "small", vcpus: 1, memoryMb: 512, diskGb: 2 },
  { name: "medium", vcpus: 2, memoryMb: 2048, diskGb: 10 },
  { name: "large", vcpus: 4, memoryMb: 8192, diskGb: 40 },
];

export function WizardSizeStep({
  arch,
  types,
  typesError,
  choice,
  onChoice,
  canCustomSize,
  size,
  onSize,
  errors,
  minimum,
  largest,
}: {
  arch: Arch | null;
  /** undefined while loading */
  types: WizardInstanceType[] | undefined;
  typesError: string | null;
  choice: string;
  onChoice: (v: string) => void;
  canCustomSize: boolean;
  size: WizardSize;
  onSize: (s: WizardSize) => void;
  errors: Record<string, string>;
  /** the image's minimum memory and disk */
  minimum: { memoryMb: number; diskGb: number };
  /** the largest native host of the arch, when there is one */
  largest: { vcpus: number; memoryMb: number } | null;
}) {
  const typeError = errors.vcpus ?? errors.memoryMb ?? errors.diskGb;
  const t = useTranslations("wizard");
  const fmt = useDisplayFormat();
  return (
    <fieldset className="space-y-4">
      <legend className="mb-1 text-lg font-semibold">{t("steps.size")}</legend>
      {types === undefined && !typesError && <p className="text-sm text-slate-500">{t("loadingTypes")}</p>}
      {typesError && (
        <p role="alert" className="text-sm text-red-700">
          {t("typesError", { message: typesError })}
        </p>
      )}
      {types && types.length === 0 && !canCustomSize && (
        <p role="alert" className="text-sm text-red-700">
          {t("noTypes", { arch: String(arch) })}
        </p>
      )}
      <div className="grid gap-2" role="radiogroup" aria-label={t("instanceType")}>
        {types?.map((it) => (
          <label
            key={it.id}
            data-testid={`size-${it.name}`}
            className="flex items-center gap-3 rounded-lg border border-slate-200 bg-white p-3 text-sm"
          >
            <input type="radio" name="size" value={it.id} checked={choice === it.id} onChange={() => onChoice(it.id)} />
            <span className="font-medium">{it.name}</span>
            <span className="text-slate-600">{formatInstanceSize(it)}</span>
            {it.arch && <span className="text-xs text-slate-500">{t("archOnly", { arch: it.arch })}</span>}
            {it.description && <span className="text-xs text-slate-500">{it.description}</span>}
          </label>
        ))}
        {canCustomSize && (
          <label className="flex items-center gap-3 rounded-lg border border-slate-200 bg-white p-3 text-sm">
            <input
              type="radio"
              name="size"
              value={CUSTOM_SIZE}
              checked={choice === CUSTOM_SIZE}
              onChange={() => onChoice(CUSTOM_SIZE)}
            />
            <span className="font-medium">{t("customSize")}</span>
          </label>
        )}
      </div>
      {choice !== CUSTOM_SIZE && typeError && (
        <p role="alert" className="text-sm text-red-700">
          {typeError}
        </p>
      )}
      {choice === CUSTOM_SIZE && canCustomSize && (
        <>
          <div className="flex flex-wrap gap-2">
            {PRESETS.map((p) => (
              <button
                key={p.name}
                type="button"
                onClick={() =>
                  onSize({
                    vcpus: p.vcpus,
                    memoryMb: Math.max(p.memoryMb, minimum.memoryMb),
                    diskGb: Math.max(p.diskGb, minimum.diskGb),
                  })
                }
                className="rounded-md px-3 py-1.5 text-sm ring-1 ring-slate-300 hover:bg-slate-100"
              >
                {t(`presets.${p.name}`)}: {p.vcpus} vCPU, {fmt.mib(p.memoryMb)}, {p.diskGb} GiB
              </button>
            ))}
          </div>
          <div className="grid gap-4 sm:grid-cols-3">
            <NumberField
              label={t("vcpus")}
              value={size.vcpus}
              error={errors.vcpus}
              onChange={(v) => onSize({ ...size, vcpus: v })}
            />
            <NumberField
              label={t("memoryMib")}
              value={size.memoryMb}
              error={errors.memoryMb}
              onChange={(v) => onSize({ ...size, memoryMb: v })}
            />
            <NumberField
              label={t("diskGib")}
              value={size.diskGb}
              error={errors.diskGb}
              onChange={(v) => onSize({ ...size, diskGb: v })}
            />
          </div>
        </>
      )}
      {largest && (
        <p className="text-xs text-slate-500">
          {t("largestNative", { arch: String(arch), vcpus: largest.vcpus, memory: fmt.mib(largest.memoryMb) })}
        </p>
      )}
    </fieldset>
  );
}

function NumberField({
  label,
  value,
  error,
  onChange,
}: {
  label: string;
  value: number;
  error?: string;
  onChange: (v: number) => void;
}) {
  return (
    <label className="text-sm">
      <span className="block font-medium">{label}</span>
      <input
        type="number"
        value={Number.isFinite(value) ? value : ""}
        onChange={(e) => onChange(e.target.value === "" ? NaN : Number(e.target.value))}
        aria-invalid={!!error}
        className="mt-1 w-full rounded-md border border-slate-300 px-2 py-1.5"
      />
      {error && (
        <span role="alert" className="mt-1 block text-xs text-red-700">
          {error}
        </span>
      )}
    </label>
  );
}
