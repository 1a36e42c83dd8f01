import { redirect } from "next/navigation";
import { getTranslations } from "next-intl/server";
import { LoginForm } from "@/components/login-form";
import { LanguageSwitch } from "@/components/language-switch";
import { currentActor } from "@/lib/server/identity";
import { safeNext } from "@/lib/safe-next";
import { pageTitle } from "@/i18n/page-metadata";

export const generateMetadata = pageTitle("login");

export default async function LoginPage({ searchParams }: { searchParams: Promise<{ next?: string | string[] }> }) {
  const { next } = await searchParams;
  // Only same-origin paths (lib/safe-next.ts): never bounce a user to another site after sign-in.
  const target = safeNext(next);
  if (await currentActor()) redirect(target);
  const t = await getTranslations("pages.login");
  return (
    <main className="flex min-h-screen items-center justify-center p-6">
      <div className="w-full max-w-sm rounded-xl border border-slate-200 bg-white p-8 shadow-sm">
        <div className="mb-1 flex items-start justify-between gap-4">
          <h1 className="text-2xl font-semibold">Polyarch</h1>
          {/* Before sign-in the choice lives in the `locale` cookie; signing in applies the saved one. */}
          <LanguageSwitch signedIn={false} className="w-28 text-slate-700" />
        </div>
        <p className="mb-6 text-sm text-slate-500">{t("tagline")}</p>
        <LoginForm next={target} />
      </div>
    </main>
  );
}
