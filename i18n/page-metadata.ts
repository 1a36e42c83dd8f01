// Page titles in the request's language: `export const generateMetadata = pageTitle("hosts");`
// reads pages.<key>.title (messages/<locale>/pages.json); the root layout adds " · Polyarch".
import type { Metadata } from "next";
import { getTranslations } from "next-intl/server";

export function pageTitle(key: string): () => Promise<Metadata> {
  return async () => {
    const t = await getTranslations("pages");
    return { title: t(`${key}.title`) };
  };
}
