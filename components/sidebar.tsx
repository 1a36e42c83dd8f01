"use client";
import Link from "next/link";
import { usePathname } from "next/navigation";
import { useTranslations } from "next-intl";
import { useState } from "react";
import { LanguageSwitch } from "./language-switch";

// Labels are message keys sidebar.nav.<label>.
const NAV = [
  { href: "/", label: "dashboard" },
  { href: "/hosts", label: "hosts" },
  { href: "/images", label: "images" },
  { href: "/vms", label: "vms" },
  { href: "/volumes", label: "volumes" },
  { href: "/networks", label: "networks" },
  { href: "/security-groups", label: "securityGroups" },
  { href: "/floating-ips", label: "floatingIps" },
  { href: "/events", label: "events" },
];
const ADMIN_NAV = [
  { href: "/users", label: "users" },
  { href: "/projects", label: "projects" },
  { href: "/instance-types", label: "instanceTypes" },
  { href: "/audit", label: "audit" },
];

export function Sidebar({
  user,
  showAdmin,
}: {
  user: { name: string; email: string; role: string };
  showAdmin: boolean;
}) {
  const pathname = usePathname();
  const t = useTranslations("sidebar");
  const users = useTranslations("users");
  const [open, setOpen] = useState(false);
  const isActive = (href: string) => (href === "/" ? pathname === "/" : pathname.startsWith(href));

  async function signOut() {
    await fetch("/api/auth/sign-out", { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    // A full load on purpose: signing out must drop every cached query and client state.
    // eslint-disable-next-line @next/next/no-location-assign-relative-destination
    window.location.assign("/login");
  }

  const link = (item: { href: string; label: string }) => (
    <li key={item.href}>
      <Link
        href={item.href}
        onClick={() => setOpen(false)}
        aria-current={isActive(item.href) ? "page" : undefined}
        className={
          "block rounded-md px-3 py-2 text-sm " +
          (isActive(item.href) ? "bg-zinc-700 text-zinc-50" : "text-zinc-300 hover:bg-zinc-800 hover:text-zinc-50")
        }
      >
        {t(`nav.${item.label}`)}
      </Link>
    </li>
  );

  return (
    // zinc, not slate: globals.css mirrors slate for dark mode, the sidebar stays dark in both schemes.
    // From md up it is as tall as the viewport and sticks while the page scrolls, so it always
    // reaches the bottom; the account box (user, language, Sign out) stays pinned at its foot and the
    // links scroll on their own when the window is too short for them.
    <aside className="bg-zinc-900 text-zinc-100 md:sticky md:top-0 md:flex md:h-dvh md:w-60 md:shrink-0 md:flex-col md:overflow-hidden">
      <a
        href="#main"
        className="sr-only focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:bg-zinc-50 focus:p-2 focus:text-zinc-900"
      >
        {t("skip")}
      </a>
      <div className="flex items-center justify-between px-4 py-4 md:shrink-0">
        <Link href="/" className="text-lg font-semibold tracking-tight">
          Polyarch
        </Link>
        <button
          type="button"
          className="rounded px-2 py-1 text-sm ring-1 ring-zinc-600 md:hidden"
          aria-expanded={open}
          aria-controls="nav"
          onClick={() => setOpen((o) => !o)}
        >
          {t("menu")}
        </button>
      </div>
      <nav
        id="nav"
        aria-label={t("main")}
        className={`${open ? "block" : "hidden"} px-2 pb-4 md:flex md:min-h-0 md:flex-1 md:flex-col md:justify-between`}
      >
        <div className="md:min-h-0 md:flex-1 md:overflow-y-auto">
          <ul className="space-y-1">{NAV.map(link)}</ul>
          {showAdmin && (
            <>
              <p className="mt-6 px-3 text-xs font-semibold uppercase tracking-wide text-zinc-400">
                {t("administration")}
              </p>
              <ul className="mt-2 space-y-1">{ADMIN_NAV.map(link)}</ul>
            </>
          )}
        </div>
        <div className="mt-6 border-t border-zinc-700 px-3 pt-4 text-sm md:mt-3 md:shrink-0">
          <Link href="/account" className="block truncate font-medium hover:underline" data-testid="current-user">
            {user.name}
          </Link>
          <p className="truncate text-xs text-zinc-400">{user.email}</p>
          <p className="mt-1 text-xs text-zinc-400">
            {t("role")}{" "}
            <span data-testid="current-role">
              {users.has(`roles.${user.role}`) ? users(`roles.${user.role}`) : user.role}
            </span>
          </p>
          <LanguageSwitch signedIn className="mt-3" />
          <button
            type="button"
            onClick={signOut}
            className="mt-3 rounded-md px-2 py-1 text-xs ring-1 ring-zinc-600 hover:bg-zinc-800"
          >
            {t("signOut")}
          </button>
        </div>
      </nav>
    </aside>
  );
}
