"use client";
import { useState, useTransition } from "react";
import type { ActionResult } from "@/lib/action-result";

/** Admin-only panel: the cluster join token and the command that makes a node join. */
export function JoinNode({ token, controllerUrl, rotate }: { token: string; controllerUrl: string; rotate: (i: Record<string, never>) => Promise<ActionResult<string>> }) {
  const [current, setCurrent] = useState(token);
  const [shown, setShown] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [pending, start] = useTransition();
  const cmd = `node dist/agent.mjs --controller ${controllerUrl} --join-token ${shown ? current : "<join token>"} --listen 0.0.0.0:7101 --state-dir /var/lib/polyarch`;
  return (
    <details className="mb-6 rounded-lg border border-slate-200 bg-white p-4">
      <summary className="cursor-pointer font-medium">Add a node (x86_64 or aarch64)</summary>
      <p className="mt-2 text-sm text-slate-600">Run the agent on the node; it reports its architecture, KVM and QEMU/OVS capabilities and appears below. The same bundle runs on x86_64 and arm64 Node.</p>
      <pre className="mt-2 overflow-x-auto rounded bg-slate-900 p-3 text-xs text-slate-100">{cmd}</pre>
      <div className="mt-3 flex flex-wrap items-center gap-2 text-sm">
        <button type="button" className="rounded border border-slate-300 px-2 py-1" onClick={() => setShown((s) => !s)}>{shown ? "Hide" : "Show"} join token</button>
        <button type="button" disabled={pending} className="rounded border border-red-300 px-2 py-1 text-red-700" onClick={() => {
          if (!confirm("Rotate the join token? Nodes already joined keep working; new nodes need the new token.")) return;
          start(async () => { const r = await rotate({}); if (r.ok) { setCurrent(r.data); setShown(true); setError(null); } else setError(r.error); });
        }}>Rotate join token</button>
        {shown && <code data-testid="join-token" className="break-all rounded bg-slate-100 px-2 py-1 text-xs">{current}</code>}
      </div>
      {error && <p role="alert" className="mt-2 text-sm text-red-700">{error}</p>}
    </details>
  );
}
