import { NextResponse } from "next/server";
import { apiRoute } from "@/lib/server/web";
import { readJson } from "@/lib/server/platform";
import { saveLocale } from "@/lib/server/identity";
import { LOCALE_COOKIE, setLocaleSchema } from "@/lib/i18n/locales";

const ONE_YEAR_S = 365 * 24 * 3600;

// The caller's own console language (ADR 051): saved on the account (sign-in anywhere applies it)
// and echoed in the `locale` cookie, so the sign-in page keeps the language after signing out.
// The body names only the language: there is no way to address another user.
export const PUT = apiRoute(
  { permission: "read", action: "account.locale", targetType: "user" },
  async ({ req, actor }) => {
    const { locale } = await readJson(req, setLocaleSchema, 1024);
    const res = NextResponse.json(await saveLocale(actor, locale));
    res.cookies.set(LOCALE_COOKIE, locale, { path: "/", maxAge: ONE_YEAR_S, sameSite: "lax" });
    return res;
  },
);
