"use client";
import { useRouter } from "next/navigation";
import { useTranslations } from "next-intl";
import { useState, useTransition } from "react";
import type { ActionResult } from "@/lib/action-result";
import { useDisplayFormat } from "@/components/use-display-format";

type Token = {
  id: string;
  name: string;
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
  expiresAt: string | null;
  revokedAt: string | null;
};

export function ApiTokens({
  tokens,
  create,
  revoke,
}: {
  tokens: Token[];
  create: (i: { name: string; expiresInDays: number }) => Promise<ActionResult<{ id: string; token: string }>>;
  revoke: (i: { id: string }) => Promise<ActionResult>;
}) {
  const router = useRouter();
  const t = useTranslations("apiTokens");
  const fmt = useDisplayFormat();
  const [shown, setShown] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [pending, start] = useTransition();

  function onCreate(e: React.FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = e.currentTarget;
    const f = new FormData(form);
    start(async () => {
      const r = await create({ name: String(f.get("name")), expiresInDays: Number(f.get("expiresInDays") || 0) });
      if (r.ok) {
        setShown(r.data.token);
        setError(null);
        form.reset();
        router.refresh();
      } else setError(r.error);
    });
  }

  return (
    <section className="space-y-4">
      <h2 className="text-lg font-semibold">{t("title")}</h2>
      <p className="text-sm text-slate-600">
        {t.rich("intro", {
          header: "Authorization: Bearer <token>",
          path: "/api/v1/…",
          code: (chunks) => <code>{chunks}</code>,
          doc: (chunks) => (
            <a className="underline" href="/api/v1/openapi.json">
              {chunks}
            </a>
          ),
        })}
      </p>
      {shown && (
        <div role="status" className="rounded-md border border-green-300 bg-green-50 p-3 text-sm">
          <p className="font-medium">{t("copyNow")}</p>
          <code data-testid="new-token" className="mt-1 block break-all rounded bg-white p-2">
            {shown}
          </code>
        </div>
      )}
      {error && (
        <p role="alert" className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">
          {error}
        </p>
      )}
      <form onSubmit={onCreate} className="flex flex-wrap items-end gap-3" aria-label={t("createForm")}>
        <label className="text-sm">
          <span className="block font-medium">{t("name")}</span>
          <input name="name" required maxLength={100} className="mt-1 rounded-md border border-slate-300 px-2 py-1.5" />
        </label>
        <label className="text-sm">
          <span className="block font-medium">{t("expiresIn")}</span>
          <input
            name="expiresInDays"
            type="number"
            min={0}
            max={3650}
            defaultValue={90}
            className="mt-1 w-32 rounded-md border border-slate-300 px-2 py-1.5"
          />
        </label>
        <button
          type="submit"
          disabled={pending}
          className="rounded-md bg-indigo-600 px-4 py-2 text-sm font-medium text-white disabled:opacity-60"
        >
          {t("create")}
        </button>
      </form>
      <div className="relative overflow-x-auto rounded-lg border border-slate-200 bg-white">
        <table className="min-w-full divide-y divide-slate-200 text-sm">
          <thead className="bg-slate-50 text-left text-xs font-semibold uppercase text-slate-600">
            <tr>
              <th className="px-3 py-2">{t("name")}</th>
              <th className="px-3 py-2">{t("prefix")}</th>
              <th className="px-3 py-2">{t("created")}</th>
              <th className="px-3 py-2">{t("lastUsed")}</th>
              <th className="px-3 py-2">{t("expires")}</th>
              <th className="px-3 py-2">{t("state")}</th>
              <th className="px-3 py-2" />
            </tr>
          </thead>
          <tbody className="divide-y divide-slate-100">
            {tokens.map((tok) => (
              <tr key={tok.id}>
                <td className="px-3 py-2">{tok.name}</td>
                <td className="px-3 py-2 font-mono text-xs">{tok.prefix}…</td>
                <td className="px-3 py-2 text-xs">{fmt.when(tok.createdAt)}</td>
                <td className="px-3 py-2 text-xs">{fmt.when(tok.lastUsedAt)}</td>
                <td className="px-3 py-2 text-xs">{tok.expiresAt ? fmt.when(tok.expiresAt) : t("never")}</td>
                <td className="px-3 py-2">{tok.revokedAt ? t("revoked") : t("active")}</td>
                <td className="px-3 py-2">
                  {!tok.revokedAt && (
                    <button
                      type="button"
                      className="rounded border border-red-300 px-2 py-1 text-xs text-red-700"
                      onClick={() =>
                        start(async () => {
                          const r = await revoke({ id: tok.id });
                          if (!r.ok) setError(r.error);
                          router.refresh();
                        })
                      }
                    >
                      {t("revoke")}
                    </button>
                  )}
                </td>
              </tr>
            ))}
            {tokens.length === 0 && (
              <tr>
                <td colSpan={7} className="px-3 py-6 text-center text-slate-500">
                  {t("empty")}
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
    </section>
  );
}
