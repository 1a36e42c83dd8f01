// next-intl's per-request configuration (ADR 051), without locale routing: URLs carry no locale.
// The language is the signed-in user's saved choice, else the `locale` cookie the switch sets,
// else the best match of Accept-Language, else English. Messages are read from messages/<locale>/.
import { cookies, headers } from "next/headers";
import { getRequestConfig } from "next-intl/server";
import { isLocale, LOCALE_COOKIE, matchAcceptLanguage, type Locale } from "@/lib/i18n/locales";
import { compileMessages, readMessages, type MessageTree } from "./messages";
import { currentActor, savedLocale } from "@/lib/server/identity";
import { env } from "@/lib/server/platform";

const cache = new Map<Locale, MessageTree>();

function messagesFor(locale: Locale): MessageTree {
  // Re-read on every request in development so edits show up; once per process in production.
  // Compiled ahead of formatting (i18n/messages.ts compileMessages; next.config.mjs aliases the formatter).
  if (env().NODE_ENV !== "production") return compileMessages(readMessages(locale));
  let tree = cache.get(locale);
  if (!tree) cache.set(locale, (tree = compileMessages(readMessages(locale))));
  return tree;
}

async function requestLocale(): Promise<Locale> {
  const h = await headers();
  // A failing session lookup (database down) must not break the page's language: fall through.
  const actor = await currentActor(h).catch(() => null);
  const saved = actor ? await savedLocale(actor).catch(() => null) : null;
  if (saved) return saved;
  const cookie = (await cookies()).get(LOCALE_COOKIE)?.value;
  if (isLocale(cookie)) return cookie;
  return matchAcceptLanguage(h.get("accept-language"));
}

export default getRequestConfig(async () => {
  const locale = await requestLocale();
  return {
    locale,
    messages: messagesFor(locale),
    // The server's zone, handed to client components by NextIntlClientProvider so both render alike.
    timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone,
  };
});
