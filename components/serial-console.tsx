"use client";
// Minimal serial console: scrollback + live output in a <pre> (ANSI sequences stripped) and a line
// input. Each (re)connection fetches a fresh single-use ticket; the server decides read-only.
import { useEffect, useRef, useState } from "react";
import { applyTerminalText } from "@/lib/terminal-text";
import {
  CONSOLE_REVOKED_CLOSE_CODE,
  ConsoleStatusText,
  consoleSocketUrl,
  useConsoleSession,
} from "@/components/console-session";

export function SerialConsole({ vmId }: { vmId: string }) {
  const [text, setText] = useState("");
  const [line, setLine] = useState("");
  const textRef = useRef("");
  const preRef = useRef<HTMLPreElement | null>(null);
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
      const decoder = new TextDecoder();
      let pending = "";
      let fresh = true; // the agent resends the scrollback on every connection: replace, not append
      ws.onopen = () => control.connected();
      ws.onmessage = (ev) => {
        const chunk =
          pending + (typeof ev.data === "string" ? ev.data : decoder.decode(ev.data as ArrayBuffer, { stream: true }));
        const r = applyTerminalText(fresh ? "" : textRef.current, chunk);
        fresh = false;
        pending = r.rest;
        textRef.current = r.text;
        setText(r.text);
      };
      ws.onclose = (ev) =>
        ev.code === CONSOLE_REVOKED_CLOSE_CODE ? control.closed(ev.reason) : control.lost(ev.reason || null);
      return ws;
    },
    (ws) => ws.close(1000),
  );

  useEffect(() => {
    const pre = preRef.current;
    if (pre) pre.scrollTop = pre.scrollHeight;
  }, [text]);

  const send = (data: string) => {
    const ws = wsRef.current;
    if (ws && ws.readyState === WebSocket.OPEN && write) ws.send(data);
  };
  const connected = status === "connected";

  return (
    <div className="rounded-lg border border-slate-200 bg-white" data-testid="serial-console">
      <div className="flex items-center justify-between border-b border-slate-200 px-3 py-2 text-sm">
        <ConsoleStatusText status={status} note={note} testId="serial-console-status" onReconnect={reconnect} />
        {connected && !write && (
          <span
            data-testid="serial-console-readonly"
            className="rounded bg-slate-100 px-2 py-0.5 text-xs text-slate-600"
          >
            read-only
          </span>
        )}
      </div>
      <pre
        ref={preRef}
        data-testid="serial-console-output"
        className="h-80 overflow-auto whitespace-pre-wrap break-all bg-slate-950 p-3 font-mono text-xs text-slate-100"
      >
        {text}
      </pre>
      <form
        className="flex gap-2 border-t border-slate-200 p-2"
        onSubmit={(e) => {
          e.preventDefault();
          send(line + "\n");
          setLine("");
        }}
      >
        <input
          data-testid="serial-console-input"
          aria-label={write ? "Console input" : "Console input (read-only)"}
          className="flex-1 rounded-md px-2 py-1 font-mono text-sm ring-1 ring-slate-300 disabled:bg-slate-50"
          value={line}
          disabled={!connected || !write}
          placeholder={write ? "Type a command and press Enter" : "read-only"}
          onChange={(e) => setLine(e.target.value)}
          onKeyDown={(e) => {
            if (e.ctrlKey && (e.key === "c" || e.key === "d")) {
              e.preventDefault();
              send(e.key === "c" ? "\x03" : "\x04");
            }
          }}
        />
        <button
          type="submit"
          disabled={!connected || !write}
          className="rounded-md px-3 py-1 text-sm ring-1 ring-slate-300 hover:bg-slate-100 disabled:opacity-50"
        >
          Send
        </button>
        <button
          type="button"
          disabled={!connected || !write}
          onClick={() => send("\x03")}
          className="rounded-md px-3 py-1 text-sm ring-1 ring-slate-300 hover:bg-slate-100 disabled:opacity-50"
        >
          Ctrl-C
        </button>
      </form>
    </div>
  );
}
