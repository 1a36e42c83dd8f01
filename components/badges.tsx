import { useTranslations } from "next-intl";
import type { Arch } from "@/lib/arch";

const ARCH_STYLE: Record<Arch, string> = {
  x86_64: "bg-sky-100 text-sky-800 ring-sky-300",
  aarch64: "bg-emerald-100 text-emerald-800 ring-emerald-300",
};

/** The same architecture badge on every page. */
export function ArchBadge({ arch, emulated }: { arch: Arch | string; emulated?: boolean }) {
  const t = useTranslations("common");
  const style = ARCH_STYLE[arch as Arch] ?? "bg-slate-100 text-slate-700 ring-slate-300";
  return (
    <span className="inline-flex items-center gap-1">
      <span
        data-testid="arch-badge"
        className={`inline-flex items-center rounded px-1.5 py-0.5 font-mono text-xs font-medium ring-1 ring-inset ${style}`}
      >
        {arch}
      </span>
      {emulated && (
        <span
          title={t("emulatedTitle")}
          className="rounded bg-amber-100 px-1.5 py-0.5 text-xs font-medium text-amber-800 ring-1 ring-inset ring-amber-300"
        >
          {t("emulated")}
        </span>
      )}
    </span>
  );
}

const STATUS_STYLE: Record<string, string> = {
  online: "bg-green-100 text-green-800",
  running: "bg-green-100 text-green-800",
  ready: "bg-green-100 text-green-800",
  success: "bg-green-100 text-green-800",
  succeeded: "bg-green-100 text-green-800",
  offline: "bg-slate-200 text-slate-700",
  stopped: "bg-slate-200 text-slate-700",
  disabled: "bg-slate-200 text-slate-700",
  maintenance: "bg-amber-100 text-amber-800",
  pending: "bg-amber-100 text-amber-800",
  scheduling: "bg-amber-100 text-amber-800",
  creating: "bg-amber-100 text-amber-800",
  uploading: "bg-amber-100 text-amber-800",
  validating: "bg-amber-100 text-amber-800",
  deleting: "bg-amber-100 text-amber-800",
  error: "bg-red-100 text-red-800",
  denied: "bg-red-100 text-red-800",
  failed: "bg-red-100 text-red-800",
  unknown: "bg-purple-100 text-purple-800",
};

export function StatusBadge({ status }: { status: string }) {
  const label = useStatusLabel();
  return (
    <span
      data-testid="status-badge"
      className={`inline-flex rounded-full px-2 py-0.5 text-xs font-medium ${STATUS_STYLE[status] ?? "bg-slate-100 text-slate-700"}`}
    >
      {label(status)}
    </span>
  );
}

/** A status value (running, ready, …) in the reader's language; an unknown value shows as it came. */
export function useStatusLabel(): (status: string) => string {
  const t = useTranslations("status");
  return (status) => (t.has(status) ? t(status) : status);
}
