"use client";
import { useState, useTransition } from "react";
import type { ActionResult } from "@/lib/action-result";

type Created = { token: string; expiresAt: string; singleUse: boolean };

/**
 * Admin-only panel: how a node joins. A join token created here expires (24 h by default) and is
 * single-use; the cluster bootstrap token (rotatable) stays for scripted installs. The command
 * pins the cluster CA by fingerprint (docs/decisions/017-agent-tls.md).
 */
export function JoinNode({
  token,
  controllerUrl,
  caFingerprint,
  rotate,
  create,
}: {
  token: string;
  controllerUrl: string;
  caFingerprint: string;
  rotate: (i: Record<string, never>) => Promise<ActionResult<string>>;
  create: (i: { singleUse: boolean }) => Promise<ActionResult<Created>>;
}) {
  const [current, setCurrent] = useState(token);
  const [shown, setShown] = useState(false);
  const [created, setCreated] = useState<Created | null>(null);
  const [singleUse, setSingleUse] = useState(true);
  const [error, setError] = useState<string | null>(null);
  const [pending, start] = useTransition();
  const joinToken = created ? created.token : shown ? current : "<join token>";
  const cmd =
    `node dist/agent.mjs --controller ${controllerUrl} --join-token ${joinToken} --controller-fingerprint ${caFingerprint}` +
    " --listen 0.0.0.0:7101 --advertise-url https://<node address>:7101 --state-dir /var/lib/polyarch";
  return (
    <details className="mb-6 rounded-lg border border-slate-200 bg-white p-4">
      <summary className="cursor-pointer font-medium">Add a node (x86_64 or aarch64)</summary>
      <p className="mt-2 text-sm text-slate-600">
        Run the agent on the node; it reports its architecture, KVM and QEMU/OVS capabilities and appears below. The
        same bundle runs on x86_64 and arm64 Node. The agent makes its own key; the controller issues its TLS
        certificate when it joins.
      </p>
      <pre className="mt-2 overflow-x-auto rounded bg-slate-900 p-3 text-xs text-slate-100">{cmd}</pre>
      <p className="mt-2 text-xs text-slate-600">
        Cluster CA fingerprint (SHA-256):{" "}
        <code data-testid="ca-fingerprint" className="break-all">
          {caFingerprint}
        </code>
      </p>
      <div className="mt-3 flex flex-wrap items-center gap-2 text-sm">
        <label className="flex items-center gap-1">
          <input type="checkbox" checked={singleUse} onChange={(e) => setSingleUse(e.target.checked)} /> single-use
        </label>
        <button
          type="button"
          disabled={pending}
          className="rounded bg-indigo-600 px-2 py-1 text-white disabled:opacity-50"
          onClick={() => {
            start(async () => {
              const r = await create({ singleUse });
              if (r.ok) {
                setCreated(r.data);
                setError(null);
              } else setError(r.error);
            });
          }}
        >
          Create join token
        </button>
        {created && (
          <span className="text-xs text-slate-600">
            expires {new Date(created.expiresAt).toLocaleString()}
            {created.singleUse ? ", single-use" : ""} — shown once:{" "}
            <code data-testid="created-join-token" className="break-all rounded bg-slate-100 px-2 py-1">
              {created.token}
            </code>
          </span>
        )}
      </div>
      <div className="mt-3 flex flex-wrap items-center gap-2 text-sm">
        <span className="text-slate-600">Cluster bootstrap token (no expiry, for scripted installs):</span>
        <button type="button" className="rounded border border-slate-300 px-2 py-1" onClick={() => setShown((s) => !s)}>
          {shown ? "Hide" : "Show"} join token
        </button>
        <button
          type="button"
          disabled={pending}
          className="rounded border border-red-300 px-2 py-1 text-red-700"
          onClick={() => {
            if (!confirm("Rotate the join token? Nodes already joined keep working; new nodes need the new token."))
              return;
            start(async () => {
              const r = await rotate({});
              if (r.ok) {
                setCurrent(r.data);
                setShown(true);
                setError(null);
              } else setError(r.error);
            });
          }}
        >
          Rotate join token
        </button>
        {shown && (
          <code data-testid="join-token" className="break-all rounded bg-slate-100 px-2 py-1 text-xs">
            {current}
          </code>
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
