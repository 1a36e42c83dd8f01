// The Save / Cancel pair of an inline edit form (admin pages: projects, instance types).
import { useTranslations } from "next-intl";

export function EditFormButtons({ pending, onCancel }: { pending: boolean; onCancel: () => void }) {
  const t = useTranslations("common");
  return (
    <>
      <button
        type="submit"
        disabled={pending}
        className="rounded-md bg-indigo-600 px-3 py-1.5 text-sm text-white disabled:opacity-60"
      >
        {t("save")}
      </button>
      <button type="button" onClick={onCancel} className="rounded-md px-3 py-1.5 text-sm ring-1 ring-slate-300">
        {t("cancel")}
      </button>
    </>
  );
}
