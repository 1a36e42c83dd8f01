"use client";
import { useTranslations } from "next-intl";
import { useDisplayFormat } from "@/components/use-display-format";
import { useState, useTransition } from "react";
import type { ActionResult } from "@/lib/action-result";

type Created = { token: string; expiresAt: string; singleUse: boolean; arch: string | null };
type Arch = "x86_64" | "aarch64";

/**
 * Admin-only panel: how a node joins (ADR 025). A join token created here expires (24 h by default),
 * is single-use and may be bound to an arch; the cluster bootstrap token (rotatable) stays for
 * scripted installs. Tokens are shown once: the database keeps only their hash. The agent reads the
 * token from a file (never argv, which ps shows). The command pins the cluster CA by fingerprint.
 */
export function JoinNode({
  hasBootstrapToken,
  controllerUrl,
  caFingerprint,
  rotate,
  create,
}: {
  hasBootstrapToken: boolean;
  controllerUrl: string;
  caFingerprint: string;
  rotate: (i: Record<string, never>) => Promise<ActionResult<string>>;
  create: (i: { singleUse: boolean; arch: Arch | null }) => Promise<ActionResult<Created>>;
}) {
  const t = useTranslations("joinNode");
  const fmt = useDisplayFormat();
  const [rotated, setRotated] = useState<string | null>(null);
  const [created, setCreated] = useState<Created | null>(null);
  const [singleUse, setSingleUse] = useState(true);
  const [arch, setArch] = useState<Arch | "">("");
  const [error, setError] = useState<string | null>(null);
  const [pending, start] = useTransition();
  const joinToken = created ? created.token : (rotated ?? "<join token>");
  const tokenFile = "/var/lib/polyarch/join-token";
  const cmd =
    `umask 077 && mkdir -p /var/lib/polyarch && printf '%s\\n' '${joinToken}' > ${tokenFile}\n` +
    `node dist/agent.mjs --controller ${controllerUrl} --join-token-file ${tokenFile} --controller-fingerprint ${caFingerprint}` +
    " --listen 0.0.0.0:7101 --advertise-url https://<node address>:7101 --state-dir /var/lib/polyarch";
  return (
    <details className="mb-6 rounded-lg border border-slate-200 bg-white p-4">
      <summary className="cursor-pointer font-medium">{t("title")}</summary>
      <p className="mt-2 text-sm text-slate-600">{t("intro")}</p>
      <pre className="mt-2 overflow-x-auto rounded bg-slate-900 p-3 text-xs text-slate-100">{cmd}</pre>
      <p className="mt-2 text-xs text-slate-600">
        {t("caFingerprint")}{" "}
        <code data-testid="ca-fingerprint" className="break-all">
          {caFingerprint}
        </code>
      </p>
      <div className="mt-3 flex flex-wrap items-center gap-2 text-sm">
        <label className="flex items-center gap-1">
          <input type="checkbox" checked={singleUse} onChange={(e) => setSingleUse(e.target.checked)} />{" "}
          {t("singleUse")}
        </label>
        <label className="flex items-center gap-1">
          {t("onlyFor")}
          <select
            data-testid="join-token-arch"
            value={arch}
            onChange={(e) => setArch(e.target.value as Arch | "")}
            className="rounded border border-slate-300 px-1 py-0.5"
          >
            <option value="">{t("anyArch")}</option>
            <option value="x86_64">x86_64</option>
            <option value="aarch64">aarch64</option>
          </select>
        </label>
        <button
          type="button"
          disabled={pending}
          className="rounded bg-indigo-600 px-2 py-1 text-white disabled:opacity-50"
          onClick={() => {
            start(async () => {
              const r = await create({ singleUse, arch: arch || null });
              if (r.ok) {
                setCreated(r.data);
                setError(null);
              } else setError(r.error);
            });
          }}
        >
          {t("createToken")}
        </button>
        {created && (
          <span className="text-xs text-slate-600">
            {t("expires", { at: fmt.dateTime(created.expiresAt) })}
            {created.singleUse ? t("singleUseSuffix") : ""}
            {created.arch ? t("archOnlySuffix", { arch: created.arch }) : ""} — {t("shownOnce")}{" "}
            <code data-testid="created-join-token" className="break-all rounded bg-slate-100 px-2 py-1">
              {created.token}
            </code>
          </span>
        )}
      </div>
      <div className="mt-3 flex flex-wrap items-center gap-2 text-sm">
        <span className="text-slate-600">
          {t("bootstrap", { state: hasBootstrapToken ? t("bootstrapStored") : t("bootstrapNone") })}
        </span>
        <button
          type="button"
          disabled={pending}
          className="rounded border border-red-300 px-2 py-1 text-red-700"
          onClick={() => {
            if (!confirm(t("confirmRotate"))) return;
            start(async () => {
              const r = await rotate({});
              if (r.ok) {
                setRotated(r.data);
                setCreated(null);
                setError(null);
              } else setError(r.error);
            });
          }}
        >
          {hasBootstrapToken || rotated ? t("rotateBootstrap") : t("createBootstrap")}
        </button>
        {rotated && (
          <span className="text-xs text-slate-600">
            {t("shownOnce")}{" "}
            <code data-testid="join-token" className="break-all rounded bg-slate-100 px-2 py-1 text-xs">
              {rotated}
            </code>
          </span>
        )}
      </div>
      {error && (
        <p role="alert" className="mt-2 text-sm text-red-700">
          {error}
        </p>
      )}
    </details>
  );
}
