"use client";
import { useTranslations } from "next-intl";
import { useDisplayFormat } from "@/components/use-display-format";
import { useState, useTransition } from "react";
import type { ActionResult } from "@/lib/action-result";

type Pending = {
  id: string;
  name: string;
  arch: string;
  machineId: string | null;
  agentUrl: string | null;
  createdAt: string;
};

/**
 * Admin-only: hosts that joined with a join token and wait for approval (ADR 025). Until approved
 * they heart-beat but take no VMs and download no images.
 */
export function PendingHosts({
  hosts,
  approve,
  reject,
}: {
  hosts: Pending[];
  approve: (i: { id: string }) => Promise<ActionResult<unknown>>;
  reject: (i: { id: string }) => Promise<ActionResult<unknown>>;
}) {
  const t = useTranslations("pendingHosts");
  const fmt = useDisplayFormat();
  const [error, setError] = useState<string | null>(null);
  const [busy, start] = useTransition();
  if (hosts.length === 0) return null;
  const act = (fn: () => Promise<ActionResult<unknown>>) =>
    start(async () => {
      const r = await fn();
      setError(r.ok ? null : r.error);
    });
  return (
    <section data-testid="pending-hosts" className="mb-6 rounded-lg border border-amber-300 bg-amber-50 p-4">
      <h2 className="font-medium">{t("title")}</h2>
      <p className="mt-1 text-sm text-slate-600">{t("intro")}</p>
      <ul className="mt-2 space-y-2 text-sm">
        {hosts.map((h) => (
          <li key={h.id} data-testid={`pending-host-${h.name}`} className="flex flex-wrap items-center gap-2">
            <span className="rounded bg-amber-200 px-2 py-0.5 text-xs text-amber-900">{t("pendingApproval")}</span>
            <span className="font-medium">{h.name}</span>
            <span className="text-slate-600">
              {t("details", {
                arch: h.arch,
                machine: h.machineId ?? "?",
                url: h.agentUrl ?? t("noUrl"),
                joined: fmt.dateTime(h.createdAt),
              })}
            </span>
            <button
              type="button"
              disabled={busy}
              className="rounded bg-indigo-600 px-2 py-1 text-white disabled:opacity-50"
              onClick={() => act(() => approve({ id: h.id }))}
            >
              {t("approve")}
            </button>
            <button
              type="button"
              disabled={busy}
              className="rounded border border-red-300 px-2 py-1 text-red-700 disabled:opacity-50"
              onClick={() => {
                if (confirm(t("confirmReject", { name: h.name }))) act(() => reject({ id: h.id }));
              }}
            >
              {t("reject")}
            </button>
          </li>
        ))}
      </ul>
      {error && (
        <p role="alert" className="mt-2 text-sm text-red-700">
          {error}
        </p>
      )}
    </section>
  );
}
