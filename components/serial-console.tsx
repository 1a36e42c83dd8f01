"use client";
// Serial console: a terminal emulator (xterm.js, loaded on demand: serial-terminal.tsx) on the guest's
// serial line. Each (re)connection fetches a fresh single-use ticket; the server decides read-only and
// the agent drops a viewer's input whatever this page sends.
import dynamic from "next/dynamic";
import { useTranslations } from "next-intl";
import { useState } from "react";
import {
  CONSOLE_REVOKED_CLOSE_CODE,
  ConsoleStatusText,
  consoleSocketUrl,
  useConsoleSession,
} from "@/components/console-session";
import { TerminalFeed, type TerminalChunk } from "@/components/serial-terminal-feed";
import type { TerminalSize } from "@/components/serial-terminal";

// xterm touches the DOM and weighs ~100 kB gzip: client only, fetched once a console is on screen.
const SerialTerminal = dynamic(() => import("@/components/serial-terminal").then((m) => m.SerialTerminal), {
  ssr: false,
  loading: () => <TerminalLoading />,
});

function TerminalLoading() {
  const t = useTranslations("console");
  return <p className="flex h-96 items-center justify-center text-sm text-slate-400">{t("loadingTerminal")}</p>;
}

export function SerialConsole({ vmId }: { vmId: string }) {
  const t = useTranslations("console");
  const [feed] = useState(() => new TerminalFeed());
  const [size, setSize] = useState<TerminalSize | null>(null);
  const {
    status,
    write,
    note,
    current: wsRef,
    reconnect,
  } = useConsoleSession<WebSocket>(
    vmId,
    "serial",
    (ticket, control) => {
      const ws = new WebSocket(consoleSocketUrl(ticket));
      ws.binaryType = "arraybuffer";
      ws.onopen = () => {
        feed.reset(); // the agent resends its scrollback on every connection: a clean screen, not a repeat
        control.connected();
      };
      // bytes as they came: the emulator decodes UTF-8, also across messages
      ws.onmessage = (ev) => feed.write(typeof ev.data === "string" ? ev.data : new Uint8Array(ev.data as ArrayBuffer));
      ws.onclose = (ev) =>
        ev.code === CONSOLE_REVOKED_CLOSE_CODE ? control.closed(ev.reason) : control.lost(ev.reason || null);
      return ws;
    },
    (ws) => ws.close(1000),
  );

  const send = (data: TerminalChunk) => {
    const ws = wsRef.current;
    if (ws && ws.readyState === WebSocket.OPEN && write) ws.send(data);
  };
  const connected = status === "connected";
  const canType = connected && write;

  return (
    <div className="rounded-lg border border-slate-200 bg-white" data-testid="serial-console">
      <div className="flex items-center justify-between gap-3 border-b border-slate-200 px-3 py-2 text-sm">
        <ConsoleStatusText status={status} note={note} testId="serial-console-status" onReconnect={reconnect} />
        <span className="flex items-center gap-2 text-xs text-slate-500">
          {size && (
            <span data-testid="serial-console-size" title={t("sizeHint", { cols: size.cols, rows: size.rows })}>
              {size.cols}×{size.rows}
            </span>
          )}
          <span className="hidden sm:inline">{t("copyPaste")}</span>
          {connected && !write && (
            <span
              data-testid="serial-console-readonly"
              title={t("readOnlyTitle")}
              className="rounded bg-slate-100 px-2 py-0.5 text-slate-600"
            >
              {t("readOnly")}
            </span>
          )}
        </span>
      </div>
      <div data-testid="serial-console-output" className="rounded-b-lg bg-slate-950 p-2">
        <SerialTerminal feed={feed} canType={canType} onInput={send} onResize={setSize} />
      </div>
    </div>
  );
}
