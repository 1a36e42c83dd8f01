"use client";
import { useRouter } from "next/navigation";
import { useState, useTransition } from "react";
import type { ActionResult } from "@/lib/action-result";
import { formatDate } from "@/lib/format";

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
      <h2 className="text-lg font-semibold">Personal API tokens</h2>
      <p className="text-sm text-slate-600">
        Use a token with <code>Authorization: Bearer &lt;token&gt;</code> on <code>/api/v1/…</code> (see{" "}
        <a className="underline" href="/api/v1/openapi.json">
          the OpenAPI document
        </a>
        ). A token has your role. It is shown once and stored only as a hash.
      </p>
      {shown && (
        <div role="status" className="rounded-md border border-green-300 bg-green-50 p-3 text-sm">
          <p className="font-medium">Copy your new token now — it will not be shown again:</p>
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
      <form onSubmit={onCreate} className="flex flex-wrap items-end gap-3" aria-label="Create API token">
        <label className="text-sm">
          <span className="block font-medium">Name</span>
          <input name="name" required maxLength={100} className="mt-1 rounded-md border border-slate-300 px-2 py-1.5" />
        </label>
        <label className="text-sm">
          <span className="block font-medium">Expires in (days, 0 = never)</span>
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
          Create token
        </button>
      </form>
      <div className="relative overflow-x-auto rounded-lg border border-slate-200 bg-white">
        <table className="min-w-full divide-y divide-slate-200 text-sm">
          <thead className="bg-slate-50 text-left text-xs font-semibold uppercase text-slate-600">
            <tr>
              <th className="px-3 py-2">Name</th>
              <th className="px-3 py-2">Prefix</th>
              <th className="px-3 py-2">Created</th>
              <th className="px-3 py-2">Last used</th>
              <th className="px-3 py-2">Expires</th>
              <th className="px-3 py-2">State</th>
              <th className="px-3 py-2" />
            </tr>
          </thead>
          <tbody className="divide-y divide-slate-100">
            {tokens.map((t) => (
              <tr key={t.id}>
                <td className="px-3 py-2">{t.name}</td>
                <td className="px-3 py-2 font-mono text-xs">{t.prefix}…</td>
                <td className="px-3 py-2 text-xs">{formatDate(t.createdAt)}</td>
                <td className="px-3 py-2 text-xs">{formatDate(t.lastUsedAt)}</td>
                <td className="px-3 py-2 text-xs">{t.expiresAt ? formatDate(t.expiresAt) : "never"}</td>
                <td className="px-3 py-2">{t.revokedAt ? "revoked" : "active"}</td>
                <td className="px-3 py-2">
                  {!t.revokedAt && (
                    <button
                      type="button"
                      className="rounded border border-red-300 px-2 py-1 text-xs text-red-700"
                      onClick={() =>
                        start(async () => {
                          const r = await revoke({ id: t.id });
                          if (!r.ok) setError(r.error);
                          router.refresh();
                        })
                      }
                    >
                      Revoke
                    </button>
                  )}
                </td>
              </tr>
            ))}
            {tokens.length === 0 && (
              <tr>
                <td colSpan={7} className="px-3 py-6 text-center text-slate-500">
                  No tokens yet.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
    </section>
  );
}
