"use client";
import { useRouter } from "next/navigation";
import { useTranslations } from "next-intl";
import { useState, useTransition } from "react";
import type { ActionResult } from "@/lib/action-result";
import { useDisplayFormat } from "@/components/use-display-format";

type Key = { id: string; name: string; fingerprint: string; type: string; createdAt: string };

export function SshKeys({
  keys,
  add,
  remove,
}: {
  keys: Key[];
  add: (i: {
    name: string;
    publicKey: string;
  }) => Promise<ActionResult<{ id: string; name: string; fingerprint: string }>>;
  remove: (i: { id: string }) => Promise<ActionResult>;
}) {
  const router = useRouter();
  const t = useTranslations("sshKeys");
  const fmt = useDisplayFormat();
  const [error, setError] = useState<string | null>(null);
  const [added, setAdded] = useState<string | null>(null);
  const [pending, start] = useTransition();

  function onAdd(e: React.FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = e.currentTarget;
    const f = new FormData(form);
    start(async () => {
      const r = await add({ name: String(f.get("name") ?? ""), publicKey: String(f.get("publicKey") ?? "") });
      if (r.ok) {
        setAdded(t("added", { name: r.data.name, fingerprint: r.data.fingerprint }));
        setError(null);
        form.reset();
        router.refresh();
      } else {
        setAdded(null);
        setError(r.fieldErrors?.publicKey ?? r.error);
      }
    });
  }

  return (
    <section className="mt-10 space-y-4" aria-labelledby="ssh-keys-heading">
      <h2 id="ssh-keys-heading" className="text-lg font-semibold">
        {t("title")}
      </h2>
      <p className="text-sm text-slate-600">{t.rich("intro", { code: (chunks) => <code>{chunks}</code> })}</p>
      {added && (
        <p role="status" className="rounded-md border border-green-300 bg-green-50 px-3 py-2 text-sm">
          {added}
        </p>
      )}
      {error && (
        <p role="alert" className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">
          {error}
        </p>
      )}
      <form onSubmit={onAdd} className="space-y-3" aria-label={t("addForm")}>
        <label className="block text-sm">
          <span className="block font-medium">{t("publicKey")}</span>
          <textarea
            name="publicKey"
            required
            rows={3}
            maxLength={16384}
            spellCheck={false}
            placeholder="ssh-ed25519 AAAA… you@laptop"
            className="mt-1 w-full rounded-md border border-slate-300 px-2 py-1.5 font-mono text-xs"
          />
        </label>
        <div className="flex flex-wrap items-end gap-3">
          <label className="text-sm">
            <span className="block font-medium">{t("name")}</span>
            <input name="name" maxLength={100} className="mt-1 rounded-md border border-slate-300 px-2 py-1.5" />
          </label>
          <button
            type="submit"
            disabled={pending}
            className="rounded-md bg-indigo-600 px-4 py-2 text-sm font-medium text-white disabled:opacity-60"
          >
            {t("add")}
          </button>
        </div>
      </form>
      <div className="relative overflow-x-auto rounded-lg border border-slate-200 bg-white">
        <table className="min-w-full divide-y divide-slate-200 text-sm">
          <thead className="bg-slate-50 text-left text-xs font-semibold uppercase text-slate-600">
            <tr>
              <th className="px-3 py-2">{t("colName")}</th>
              <th className="px-3 py-2">{t("colType")}</th>
              <th className="px-3 py-2">{t("colFingerprint")}</th>
              <th className="px-3 py-2">{t("colAdded")}</th>
              <th className="px-3 py-2" />
            </tr>
          </thead>
          <tbody className="divide-y divide-slate-100">
            {keys.map((k) => (
              <tr key={k.id}>
                <td className="px-3 py-2">{k.name}</td>
                <td className="px-3 py-2 text-xs">{k.type}</td>
                <td className="px-3 py-2 font-mono text-xs" data-testid="ssh-key-fingerprint">
                  {k.fingerprint}
                </td>
                <td className="px-3 py-2 text-xs">{fmt.when(k.createdAt)}</td>
                <td className="px-3 py-2">
                  <button
                    type="button"
                    disabled={pending}
                    aria-label={t("deleteLabel", { name: k.name })}
                    className="rounded border border-red-300 px-2 py-1 text-xs text-red-700 disabled:opacity-60"
                    onClick={() => {
                      start(async () => {
                        const r = await remove({ id: k.id });
                        setAdded(null);
                        setError(r.ok ? null : r.error);
                        router.refresh();
                      });
                    }}
                  >
                    {t("delete")}
                  </button>
                </td>
              </tr>
            ))}
            {keys.length === 0 && (
              <tr>
                <td colSpan={5} className="px-3 py-6 text-center text-slate-500">
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
