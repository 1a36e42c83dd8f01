import "server-only";
// The console language saved on the account (ADR 051). A user reads and sets only their own:
// every function takes the actor, never a user id from the request.
import { isLocale, type Locale } from "../../i18n/locales";
import { db, type Actor } from "../platform";

/** The signed-in user's saved language, or null (never chosen, or a value this build does not know). */
export async function savedLocale(actor: Pick<Actor, "id">): Promise<Locale | null> {
  const row = await db().user.findUnique({ where: { id: actor.id }, select: { locale: true } });
  return isLocale(row?.locale) ? row.locale : null;
}

export async function saveLocale(actor: Pick<Actor, "id">, locale: Locale): Promise<{ locale: Locale }> {
  await db().user.update({ where: { id: actor.id }, data: { locale } });
  return { locale };
}
