"use client";
import { useTranslations } from "next-intl";
import { useState } from "react";
import { safeNext } from "@/lib/safe-next";

/** Posts to better-auth's sign-in endpoint (rate-limited there); one generic message for bad credentials. */
export function LoginForm({ next }: { next: string }) {
  const t = useTranslations("loginForm");
  const [error, setError] = useState<string | null>(null);
  const [pending, setPending] = useState(false);

  async function onSubmit(e: React.FormEvent<HTMLFormElement>) {
    e.preventDefault();
    setPending(true);
    setError(null);
    const form = new FormData(e.currentTarget);
    try {
      const res = await fetch("/api/auth/sign-in/email", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ email: String(form.get("email") ?? ""), password: String(form.get("password") ?? "") }),
      });
      if (res.ok) {
        // Checked again here: the page already did, but this is where the browser is sent.
        window.location.assign(safeNext(next));
        return;
      }
      if (res.status === 429) {
        // The per-account lock says how long it lasts (ADR 024); the per-client limit says nothing useful.
        const body = (await res.json().catch(() => null)) as { code?: string; message?: string } | null;
        setError(body?.code === "SIGN_IN_LOCKED" && body.message ? body.message : t("tooMany"));
      } else setError(t("invalid"));
    } catch {
      setError(t("unreachable"));
    }
    setPending(false);
  }

  return (
    <form onSubmit={onSubmit} className="space-y-4" noValidate>
      <label className="block">
        <span className="text-sm font-medium">{t("email")}</span>
        <input
          name="email"
          type="email"
          autoComplete="username"
          required
          className="mt-1 w-full rounded-md border border-slate-300 px-3 py-2"
        />
      </label>
      <label className="block">
        <span className="text-sm font-medium">{t("password")}</span>
        <input
          name="password"
          type="password"
          autoComplete="current-password"
          required
          className="mt-1 w-full rounded-md border border-slate-300 px-3 py-2"
        />
      </label>
      {error && (
        <p role="alert" className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">
          {error}
        </p>
      )}
      <button
        type="submit"
        disabled={pending}
        className="w-full rounded-md bg-indigo-600 px-4 py-2 font-medium text-white hover:bg-indigo-700 disabled:opacity-60"
      >
        {pending ? t("signingIn") : t("signIn")}
      </button>
    </form>
  );
}
