"use client";
// The language switch (ADR 051). Signed in: saved on the account through PUT /api/v1/account/locale
// (which also sets the `locale` cookie); signed out (sign-in page): the cookie only. Then the server
// components render again in the new language.
import { useLocale, useTranslations } from "next-intl";
import { useRouter } from "next/navigation";
import { useState, useTransition } from "react";
import { LOCALE_COOKIE, LOCALE_NAMES, LOCALES, isLocale } from "@/lib/i18n/locale-names";

export function LanguageSwitch({ signedIn, className = "" }: { signedIn: boolean; className?: string }) {
  const t = useTranslations("locale");
  const locale = useLocale();
  const router = useRouter();
  const [pending, startTransition] = useTransition();
  const [error, setError] = useState(false);

  async function choose(next: string) {
    if (!isLocale(next) || next === locale) return;
    setError(false);
    if (signedIn) {
      const res = await fetch("/api/v1/account/locale", {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ locale: next }),
      }).catch(() => null);
      if (!res?.ok) return setError(true);
    } else {
      document.cookie = `${LOCALE_COOKIE}=${next}; path=/; max-age=31536000; samesite=lax`;
    }
    startTransition(() => router.refresh());
  }

  return (
    <label className={`block text-xs ${className}`}>
      <span className="sr-only">{t("label")}</span>
      <select
        value={locale}
        disabled={pending}
        onChange={(e) => void choose(e.target.value)}
        data-testid="language-switch"
        className="w-full rounded-md border border-zinc-600 bg-transparent px-2 py-1"
      >
        {LOCALES.map((l) => (
          <option key={l} value={l} lang={l} className="text-slate-900">
            {LOCALE_NAMES[l]}
          </option>
        ))}
      </select>
      {error && (
        <span role="alert" className="mt-1 block text-red-400">
          {t("failed")}
        </span>
      )}
    </label>
  );
}
