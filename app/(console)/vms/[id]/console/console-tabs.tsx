"use client";
import Link from "next/link";
import dynamic from "next/dynamic";
import { useState } from "react";
import { useTranslations } from "next-intl";
import { ArchBadge } from "@/components/badges";
import { SerialConsole } from "@/components/serial-console";
import { NoDisplayNotice } from "@/components/vnc-console";
import type { Arch } from "@/lib/arch";
import type { Display } from "@/lib/display";

// noVNC touches window/canvas: client only, and only once the graphical tab is opened.
const VncConsole = dynamic(() => import("@/components/vnc-console").then((m) => m.VncConsole), {
  ssr: false,
  loading: function Loading() {
    return <p className="text-sm text-slate-500">{useTranslations("pages.console")("loadingGraphical")}</p>;
  },
});

type Tab = "serial" | "graphical";

export function ConsoleTabs({
  vm,
  initialTab,
}: {
  vm: { id: string; name: string; arch: Arch; display: Display; placed: boolean };
  initialTab: Tab;
}) {
  const t = useTranslations("pages.console");
  const [tab, setTabState] = useState<Tab>(initialTab);
  const setTab = (next: Tab) => {
    setTabState(next);
    const url = new URL(location.href);
    url.searchParams.set("tab", next);
    history.replaceState(null, "", url);
  };
  return (
    <div className="space-y-4">
      <div className="flex flex-wrap items-center justify-between gap-3">
        <h1 className="flex items-center gap-3 text-2xl font-semibold tracking-tight">
          {t("heading")} ·{" "}
          <Link href={`/vms/${encodeURIComponent(vm.id)}`} className="hover:underline">
            {vm.name}
          </Link>{" "}
          <ArchBadge arch={vm.arch} />
        </h1>
        <span data-testid="vm-display" className="text-sm text-slate-600">
          {t("display", { display: vm.display })}
        </span>
      </div>
      <div role="tablist" aria-label={t("tabs")} className="flex gap-1 border-b border-slate-200">
        {(["serial", "graphical"] as const).map((name) => (
          <button
            key={name}
            type="button"
            role="tab"
            aria-selected={tab === name}
            data-testid={`console-tab-${name}`}
            onClick={() => setTab(name)}
            className={
              "-mb-px rounded-t-md px-4 py-2 text-sm font-medium " +
              (tab === name ? "border border-b-white border-slate-200 bg-white" : "text-slate-600 hover:text-slate-900")
            }
          >
            {t(name)}
          </button>
        ))}
      </div>
      {!vm.placed ? (
        <p className="text-sm text-slate-600">{t("notPlaced")}</p>
      ) : tab === "serial" ? (
        <SerialConsole vmId={vm.id} />
      ) : vm.display === "none" ? (
        <NoDisplayNotice onSerial={() => setTab("serial")} />
      ) : (
        <VncConsole vmId={vm.id} onSerial={() => setTab("serial")} />
      )}
    </div>
  );
}
