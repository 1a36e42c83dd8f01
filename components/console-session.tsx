"use client";
// What the serial and the graphical console share: each (re)connection fetches a fresh single-use
// ticket (the server decides read-only), a lost connection retries with backoff, and a status line.
import { useEffect, useEffectEvent, useRef, useState } from "react";
import { consoleTicketResponseSchema, type ConsoleTicketResponse } from "@/lib/schemas/console";

const BACKOFF_MS = [500, 1_000, 2_000, 4_000, 8_000, 15_000];

export type ConsoleStatus = "connecting" | "connected" | "reconnecting" | "no-display";

/** Handed to `open` for one connection. */
export type ConsoleControl = {
  /** The connection is up (resets the backoff). */
  connected(): void;
  /** The connection ended; reconnects unless the console was closed or a newer connection took over. */
  lost(why: string | null): void;
  /** The console was closed (unmounted or the VM changed) meanwhile. */
  stopped(): boolean;
};

/** The ticket's WebSocket URL on this page's origin. */
export function consoleSocketUrl(ticket: ConsoleTicketResponse): string {
  return `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}${ticket.url}`;
}

/**
 * Keeps one console connection to `vmId` open: `open(ticket, control)` starts a connection and
 * returns its handle (or null when it gave up), `close(handle)` ends it on unmount. `current`
 * holds the live handle. A VNC ticket refused because the VM has no display sets "no-display".
 */
export function useConsoleSession<C>(
  vmId: string,
  kind: "serial" | "vnc",
  open: (ticket: ConsoleTicketResponse, control: ConsoleControl) => C | null | Promise<C | null>,
  close: (handle: C) => void,
) {
  const [status, setStatus] = useState<ConsoleStatus>("connecting");
  const [write, setWrite] = useState(false);
  const [note, setNote] = useState<string | null>(null);
  const current = useRef<C | null>(null);
  const openConnection = useEffectEvent(open);
  const closeConnection = useEffectEvent(close);

  useEffect(() => {
    let stopped = false;
    let attempt = 0;
    let timer: ReturnType<typeof setTimeout> | null = null;

    const retry = (why: string | null) => {
      if (stopped) return;
      current.current = null;
      setStatus("reconnecting");
      setNote(why);
      timer = setTimeout(connect, BACKOFF_MS[Math.min(attempt++, BACKOFF_MS.length - 1)]);
    };

    async function connect() {
      if (stopped) return;
      let ticket: ConsoleTicketResponse;
      try {
        const res = await fetch(`/api/v1/vms/${encodeURIComponent(vmId)}/console-ticket`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(kind === "vnc" ? { write: true, kind } : { write: true }),
        });
        const json: unknown = await res.json().catch(() => null);
        const message = (json as { error?: { message?: string } } | null)?.error?.message;
        if (kind === "vnc" && res.status === 409 && /graphical display/.test(message ?? "")) {
          setStatus("no-display");
          return;
        }
        if (!res.ok) return retry(message ?? `HTTP ${res.status}`);
        ticket = consoleTicketResponseSchema.parse(json);
      } catch {
        return retry("The console service is not reachable.");
      }
      if (stopped) return;
      let handle: C | null = null;
      const control: ConsoleControl = {
        connected: () => {
          attempt = 0;
          setWrite(ticket.write);
          setStatus("connected");
          setNote(null);
        },
        lost: (why) => {
          if (handle !== null && current.current === handle) retry(why);
        },
        stopped: () => stopped,
      };
      handle = await openConnection(ticket, control);
      if (handle === null) return;
      if (stopped) closeConnection(handle);
      else current.current = handle;
    }

    void connect();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      const handle = current.current;
      current.current = null;
      if (handle !== null) closeConnection(handle);
    };
  }, [vmId, kind]);

  return { status, write, note, current };
}

/** "Connected" / "Connecting…" / "Reconnecting…" with the reason of the last drop. */
export function ConsoleStatusText({
  status,
  note,
  testId,
}: {
  status: ConsoleStatus;
  note: string | null;
  testId: string;
}) {
  const connected = status === "connected";
  return (
    <span data-testid={testId} className={connected ? "text-emerald-700" : "text-amber-700"}>
      {connected ? "Connected" : status === "connecting" ? "Connecting…" : "Reconnecting…"}
      {note && <span className="ml-2 text-slate-500">({note})</span>}
    </span>
  );
}
