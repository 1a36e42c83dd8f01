"use client";
// The locale formatter (lib/i18n/format.ts) with the two null cases the console shows everywhere:
// a missing date reads "—", a missing "last seen" reads "never" in the reader's language.
import { useTranslations } from "next-intl";
import { useLocaleFormat } from "@/lib/i18n/format";

type DateInput = string | number | Date;

export function useDisplayFormat() {
  const format = useLocaleFormat();
  const t = useTranslations("common");
  return {
    ...format,
    /** Date and time in the reader's locale, or "—". */
    when: (value: DateInput | null | undefined) => (value ? format.dateTime(value) : "—"),
    /** "5 minutes ago" in the reader's language, or "never". */
    since: (value: DateInput | null | undefined, now?: DateInput) => (value ? format.ago(value, now) : t("never")),
  };
}

export type DisplayFormat = ReturnType<typeof useDisplayFormat>;
