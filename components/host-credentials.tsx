"use client";
// Admin panel on the host page: the agent's certificate pin, token rotation and revocation
// (POST /api/v1/hosts/:id/rotate-token | revoke; docs/decisions/017-agent-tls.md).
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useTranslations } from "next-intl";
import { useDisplayFormat } from "@/components/use-display-format";
import { useState } from "react";
import { fetchJson } from "@/lib/queries/fetch-json";

type Props = {
  id: string;
  name: string;
  certFingerprint: string | null;
  certExpiresAt: string | Date | null;
  revokedAt: string | Date | null;
};

export function HostCredentials({ id, name, certFingerprint, certExpiresAt, revokedAt }: Props) {
  const qc = useQueryClient();
  const t = useTranslations("hostCredentials");
  const fmt = useDisplayFormat();
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const act = useMutation({
    mutationFn: (what: "rotate-token" | "revoke") =>
      fetchJson<{ message: string }>(`/api/v1/hosts/${encodeURIComponent(id)}/${what}`, { method: "POST" }),
    onSuccess: (r) => {
      setMessage({ ok: true, text: r.message });
      void qc.invalidateQueries({ queryKey: ["hosts"] });
    },
    onError: (e: Error) => setMessage({ ok: false, text: e.message }),
  });
  const fp = certFingerprint ? certFingerprint.match(/.{2}/g)!.join(":") : null;
  return (
    <section aria-label={t("title")} className="rounded-lg border border-slate-200 bg-white p-4 text-sm">
      <h2 className="mb-2 font-semibold">{t("title")}</h2>
      {revokedAt ? (
        <p data-testid="host-revoked" className="text-red-700">
          {t("revoked", { at: fmt.dateTime(revokedAt) })}
        </p>
      ) : (
        <p className="text-slate-600">
          {t("certificate")}{" "}
          {fp ? (
            <code data-testid="host-cert-fingerprint" className="break-all text-xs">
              SHA-256 {fp}
            </code>
          ) : (
            <em>{t("noCert")}</em>
          )}
          {certExpiresAt && (
            <>
              {" "}
              ·{" "}
              {t("validUntil", {
                date: fmt.date(certExpiresAt),
              })}
            </>
          )}
        </p>
      )}
      <div className="mt-3 flex flex-wrap gap-2">
        <button
          type="button"
          disabled={act.isPending || Boolean(revokedAt)}
          className="rounded-md px-3 py-1.5 ring-1 ring-slate-300 hover:bg-slate-100 disabled:opacity-50"
          onClick={() => {
            if (confirm(t("confirmRotate", { name }))) act.mutate("rotate-token");
          }}
        >
          {t("rotate")}
        </button>
        <button
          type="button"
          disabled={act.isPending || Boolean(revokedAt)}
          className="rounded-md px-3 py-1.5 text-red-700 ring-1 ring-red-300 hover:bg-red-50 disabled:opacity-50"
          onClick={() => {
            if (confirm(t("confirmRevoke", { name }))) act.mutate("revoke");
          }}
        >
          {t("revoke")}
        </button>
      </div>
      {message && (
        <p role={message.ok ? "status" : "alert"} className={`mt-2 ${message.ok ? "text-green-800" : "text-red-700"}`}>
          {message.text}
        </p>
      )}
    </section>
  );
}
