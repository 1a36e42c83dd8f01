// The console's languages (ADR 051) and the pure part of choosing one: the saved choice and the
// cookie are checked by the server (i18n/request.ts); Accept-Language is matched here.
import { match } from "@formatjs/intl-localematcher";
import Negotiator from "negotiator";
import { z } from "zod";

import { DEFAULT_LOCALE, isLocale, LOCALES, type Locale } from "./locale-names";

export * from "./locale-names";

export const localeSchema = z.enum(LOCALES, { error: `locale must be one of: ${LOCALES.join(", ")}` });
export const setLocaleSchema = z.strictObject({ locale: localeSchema });

/**
 * The best supported locale for an Accept-Language header: q-values ordered by `negotiator`, then
 * the BCP 47 best fit of @formatjs/intl-localematcher (zh, zh-Hans, zh-SG → zh-CN; en-GB → en).
 */
export function matchAcceptLanguage(header: string | null | undefined): Locale {
  if (!header) return DEFAULT_LOCALE;
  // "*" asks for anything: the default. Malformed tags are dropped, not thrown on.
  const requested = new Negotiator({ headers: { "accept-language": header } })
    .languages()
    .filter((tag) => tag !== "*" && isValidTag(tag));
  if (requested.length === 0) return DEFAULT_LOCALE;
  const found = match(requested, [...LOCALES], DEFAULT_LOCALE);
  return isLocale(found) ? found : DEFAULT_LOCALE;
}

function isValidTag(tag: string): boolean {
  try {
    return Intl.getCanonicalLocales(tag).length === 1;
  } catch {
    return false;
  }
}
