"use client";
// Graphical console: noVNC (@novnc/novnc) over the controller's VNC WebSocket. noVNC is imported
// dynamically so only the console page ever loads it. Each (re)connection fetches a fresh
// single-use ticket; the server decides read-only (viewers get viewOnly here, and the agent drops
// their input whatever this page sends).
import { useTranslations } from "next-intl";
import { useRef } from "react";
import type RFB from "@novnc/novnc";
import {
  CONSOLE_REVOKED_CLOSE_CODE,
  ConsoleStatusText,
  consoleSocketUrl,
  useConsoleSession,
} from "@/components/console-session";

export function NoDisplayNotice({ onSerial }: { onSerial?: () => void }) {
  const t = useTranslations("console");
  return (
    <div
      data-testid="vnc-no-display"
      className="flex flex-wrap items-center justify-between gap-3 rounded-lg border border-slate-200 bg-white p-4 text-sm"
    >
      <p className="text-slate-700">{t("noDisplay")}</p>
      {onSerial && (
        <button
          type="button"
          data-testid="vnc-open-serial"
          onClick={onSerial}
          className="rounded-md px-3 py-1.5 text-sm font-medium ring-1 ring-slate-300 hover:bg-slate-100"
        >
          {t("openSerial")}
        </button>
      )}
    </div>
  );
}

export function VncConsole({ vmId, onSerial }: { vmId: string; onSerial?: () => void }) {
  const screenRef = useRef<HTMLDivElement | null>(null);
  const t = useTranslations("console");
  const {
    status,
    write,
    note,
    current: rfbRef,
    reconnect,
  } = useConsoleSession<RFB>(
    vmId,
    "vnc",
    async (ticket, control) => {
      const { default: Rfb } = await import("@novnc/novnc");
      const target = screenRef.current;
      if (control.stopped() || !target) return null;
      // Our own socket, handed to noVNC, so the close code and reason are ours to read: noVNC's
      // disconnect event carries neither.
      const socket = new WebSocket(consoleSocketUrl(ticket));
      socket.addEventListener("close", (ev) => {
        if (ev.code === CONSOLE_REVOKED_CLOSE_CODE) control.closed(ev.reason);
      });
      const rfb = new Rfb(target, socket, { shared: true });
      rfb.viewOnly = !ticket.write;
      rfb.scaleViewport = true;
      rfb.background = "rgb(2, 6, 23)";
      rfb.addEventListener("connect", () => control.connected());
      rfb.addEventListener("disconnect", (ev) => {
        const clean = (ev as CustomEvent<{ clean: boolean }>).detail?.clean;
        control.lost(clean ? t("displayClosed") : t("connectionLost"));
      });
      return rfb;
    },
    (rfb) => rfb.disconnect(),
  );

  if (status === "no-display") return <NoDisplayNotice onSerial={onSerial} />;
  const connected = status === "connected";
  return (
    <div className="rounded-lg border border-slate-200 bg-white" data-testid="vnc-console">
      <div className="flex items-center justify-between border-b border-slate-200 px-3 py-2 text-sm">
        <ConsoleStatusText status={status} note={note} testId="vnc-status" onReconnect={reconnect} />
        <span className="flex items-center gap-2">
          {connected && !write && (
            <span data-testid="vnc-readonly" className="rounded bg-slate-100 px-2 py-0.5 text-xs text-slate-600">
              {t("viewOnly")}
            </span>
          )}
          {connected && write && (
            <button
              type="button"
              onClick={() => rfbRef.current?.sendCtrlAltDel()}
              className="rounded-md px-2 py-0.5 text-xs ring-1 ring-slate-300 hover:bg-slate-100"
            >
              Ctrl-Alt-Del
            </button>
          )}
        </span>
      </div>
      <div ref={screenRef} data-testid="vnc-screen" className="h-[480px] w-full overflow-hidden bg-zinc-950" />
    </div>
  );
}
