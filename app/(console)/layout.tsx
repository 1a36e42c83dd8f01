import { redirect } from "next/navigation";
import { headers } from "next/headers";
import { Providers } from "@/components/providers";
import { Sidebar } from "@/components/sidebar";
import { NotificationsBell } from "@/components/notifications-bell";
import { currentActor } from "@/lib/server/identity";
import { can } from "@/lib/permissions";
import { getTranslations } from "next-intl/server";

export default async function ConsoleLayout({ children }: { children: React.ReactNode }) {
  const actor = await currentActor();
  if (!actor) {
    const path = (await headers()).get("x-polyarch-path") ?? "/";
    redirect(`/login?next=${encodeURIComponent(path)}`);
  }
  const t = await getTranslations("pages.layout");
  // React Query (components/providers.tsx) only where something queries: the console, not /login.
  return (
    <Providers>
      <div className="min-h-dvh md:flex">
        <Sidebar
          user={{ name: actor.name, email: actor.email, role: actor.role }}
          showAdmin={can(actor.role, "user:manage")}
        />
        <div className="min-w-0 flex-1">
          <header
            className="flex items-center justify-end gap-2 border-b border-slate-200 bg-white px-4 py-1.5 md:px-8"
            aria-label={t("header")}
          >
            <NotificationsBell />
          </header>
          <main id="main" className="min-w-0 p-4 md:p-8">
            {children}
          </main>
        </div>
      </div>
    </Providers>
  );
}
