"use client";
// Graphical console: noVNC (@novnc/novnc) over the controller's VNC WebSocket. noVNC is imported
// dynamically so only the console page ever loads it. Each (re)connection fetches a fresh
// single-use ticket; the server decides read-only (viewers get viewOnly here, and the agent drops
// their input whatever this page sends).
import { useEffect, useRef, useState } from "react";
import type RFB from "@novnc/novnc";
import { consoleTicketResponseSchema } from "@/lib/schemas/console";

const BACKOFF_MS = [500, 1_000, 2_000, 4_000, 8_000, 15_000];

type Status = "connecting" | "connected" | "reconnecting" | "no-display";

export const NO_DISPLAY_TEXT = "This VM has no graphical display — use the serial console";

export function NoDisplayNotice({ onSerial }: { onSerial?: () => void }) {
  return (
    <div data-testid="vnc-no-display" className="flex flex-wrap items-center justify-between gap-3 rounded-lg border border-slate-200 bg-white p-4 text-sm">
      <p className="text-slate-700">{NO_DISPLAY_TEXT}.</p>
      {onSerial && (
        <button type="button" data-testid="vnc-open-serial" onClick={onSerial} className="rounded-md px-3 py-1.5 text-sm font-medium ring-1 ring-slate-300 hover:bg-slate-100">
          Open the serial console
        </button>
      )}
    </div>
  );
}

export function VncConsole({ vmId, onSerial }: { vmId: string; onSerial?: () => void }) {
  const screenRef = useRef<HTMLDivElement | null>(null);
  const rfbRef = useRef<RFB | null>(null);
  const [status, setStatus] = useState<Status>("connecting");
  const [write, setWrite] = useState(false);
  const [note, setNote] = useState<string | null>(null);

  useEffect(() => {
    let stopped = false;
    let attempt = 0;
    let timer: ReturnType<typeof setTimeout> | null = null;

    const retry = (why: string | null) => {
      if (stopped) return;
      rfbRef.current = null;
      setStatus("reconnecting");
      setNote(why);
      timer = setTimeout(connect, BACKOFF_MS[Math.min(attempt++, BACKOFF_MS.length - 1)]);
    };

    async function connect() {
      if (stopped) return;
      let ticket;
      try {
        const res = await fetch(`/api/v1/vms/${encodeURIComponent(vmId)}/console-ticket`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ write: true, kind: "vnc" }) });
        const json: unknown = await res.json().catch(() => null);
        if (res.status === 409 && /graphical display/.test((json as { error?: { message?: string } } | null)?.error?.message ?? "")) {
          setStatus("no-display");
          return;
        }
        if (!res.ok) return retry((json as { error?: { message?: string } } | null)?.error?.message ?? `HTTP ${res.status}`);
        ticket = consoleTicketResponseSchema.parse(json);
      } catch {
        return retry("The console service is not reachable.");
      }
      const { default: Rfb } = await import("@novnc/novnc");
      const target = screenRef.current;
      if (stopped || !target) return;
      const rfb = new Rfb(target, `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}${ticket.url}`, { shared: true });
      rfb.viewOnly = !ticket.write;
      rfb.scaleViewport = true;
      rfb.background = "rgb(2, 6, 23)";
      rfbRef.current = rfb;
      rfb.addEventListener("connect", () => {
        attempt = 0;
        setWrite(ticket.write);
        setStatus("connected");
        setNote(null);
      });
      rfb.addEventListener("disconnect", (ev) => {
        if (rfbRef.current !== rfb) return;
        const clean = (ev as CustomEvent<{ clean: boolean }>).detail?.clean;
        retry(clean ? "the display closed" : "connection lost");
      });
    }

    void connect();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      const rfb = rfbRef.current;
      rfbRef.current = null;
      rfb?.disconnect();
    };
  }, [vmId]);

  if (status === "no-display") return <NoDisplayNotice onSerial={onSerial} />;
  const connected = status === "connected";
  return (
    <div className="rounded-lg border border-slate-200 bg-white" data-testid="vnc-console">
      <div className="flex items-center justify-between border-b border-slate-200 px-3 py-2 text-sm">
        <span data-testid="vnc-status" className={connected ? "text-emerald-700" : "text-amber-700"}>
          {connected ? "Connected" : status === "connecting" ? "Connecting…" : "Reconnecting…"}
          {note && <span className="ml-2 text-slate-500">({note})</span>}
        </span>
        <span className="flex items-center gap-2">
          {connected && !write && <span data-testid="vnc-readonly" className="rounded bg-slate-100 px-2 py-0.5 text-xs text-slate-600">view only</span>}
          {connected && write && (
            <button type="button" onClick={() => rfbRef.current?.sendCtrlAltDel()} className="rounded-md px-2 py-0.5 text-xs ring-1 ring-slate-300 hover:bg-slate-100">
              Ctrl-Alt-Del
            </button>
          )}
        </span>
      </div>
      <div ref={screenRef} data-testid="vnc-screen" className="h-[480px] w-full overflow-hidden bg-slate-950" />
    </div>
  );
}
