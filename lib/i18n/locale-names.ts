// The console's languages (ADR 051) as plain constants: import-free, so the language switch (on every
// page's first load) carries neither zod nor the Accept-Language matcher (components/client-bundle.test.ts).
export const LOCALES = ["en", "zh-CN"] as const;
export type Locale = (typeof LOCALES)[number];
export const DEFAULT_LOCALE: Locale = "en";
/** Set by the language switch; read before Accept-Language so the sign-in page follows the choice. */
export const LOCALE_COOKIE = "locale";
/** Each language's name in itself, for the switch (never translated). */
export const LOCALE_NAMES: Record<Locale, string> = { en: "English", "zh-CN": "简体中文" };

export function isLocale(value: unknown): value is Locale {
  return typeof value === "string" && (LOCALES as readonly string[]).includes(value);
}
