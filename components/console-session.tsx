"use client";
// What the serial and the graphical console share: each (re)connection fetches a fresh single-use
// ticket (the server decides read-only), a lost connection retries with backoff, and a status line.
// A console the server closed because its access was revoked (ADR 029) stays closed and says why;
// the person may reconnect by hand (e.g. read-only after a demotion).
import { useTranslations } from "next-intl";
import { useEffect, useEffectEvent, useRef, useState } from "react";
import { CONSOLE_REVOKED_CLOSE_CODE } from "@/lib/console-close";
import { consoleTicketResponseSchema, type ConsoleTicketResponse } from "@/lib/schemas/console";

export { CONSOLE_REVOKED_CLOSE_CODE };

const BACKOFF_MS = [500, 1_000, 2_000, 4_000, 8_000, 15_000];
/** The note for "the ticket request failed": translated where the note is shown (ConsoleStatusText). */
const UNREACHABLE = "console-service-unreachable";

export type ConsoleStatus = "connecting" | "connected" | "reconnecting" | "no-display" | "closed";

/** Handed to `open` for one connection. */
export type ConsoleControl = {
  /** The connection is up (resets the backoff). */
  connected(): void;
  /** The connection ended; reconnects unless the console was closed or a newer connection took over. */
  lost(why: string | null): void;
  /** The server ended the console for good (access revoked): no reconnecting, `why` is shown. */
  closed(why: string): void;
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
  const [session, setSession] = useState(0);
  const current = useRef<C | null>(null);
  const openConnection = useEffectEvent(open);
  const closeConnection = useEffectEvent(close);

  useEffect(() => {
    let stopped = false;
    let attempt = 0;
    let timer: ReturnType<typeof setTimeout> | null = null;
    /** the connection whose end counts; an older one's close event is ignored */
    let latest = 0;

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
        return retry(UNREACHABLE);
      }
      if (stopped) return;
      let handle: C | null = null;
      const mine = ++latest;
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
        closed: (why) => {
          // may come after `lost` (noVNC reports its disconnect first): cancel that retry
          if (stopped || mine !== latest) return;
          if (timer) clearTimeout(timer);
          timer = null;
          current.current = null;
          setStatus("closed");
          setNote(why);
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
  }, [vmId, kind, session]);

  /** Opens a new connection after the server closed the console (a fresh ticket decides what is allowed now). */
  const reconnect = () => {
    setStatus("connecting");
    setNote(null);
    setSession((n) => n + 1);
  };
  return { status, write, note, current, reconnect };
}

/** "Connected" / "Connecting…" / "Reconnecting…" / "Closed" with the reason of the last drop. */
export function ConsoleStatusText({
  status,
  note,
  testId,
  onReconnect,
}: {
  status: ConsoleStatus;
  note: string | null;
  testId: string;
  /** shown as a "Reconnect" button once the server closed the console */
  onReconnect?: () => void;
}) {
  const t = useTranslations("console");
  const connected = status === "connected";
  const closed = status === "closed";
  const label = t(
    connected ? "connected" : closed ? "closed" : status === "connecting" ? "connecting" : "reconnecting",
  );
  const shownNote = note === UNREACHABLE ? t("unreachable") : note;
  return (
    <span className="flex items-center gap-2">
      <span
        data-testid={testId}
        role={closed ? "alert" : undefined}
        className={connected ? "text-emerald-700" : closed ? "text-red-700" : "text-amber-700"}
      >
        {label}
        {shownNote && <span className={closed ? "ml-2" : "ml-2 text-slate-500"}>({shownNote})</span>}
      </span>
      {closed && onReconnect && (
        <button
          type="button"
          data-testid={`${testId}-reconnect`}
          onClick={onReconnect}
          className="rounded-md px-2 py-0.5 text-xs ring-1 ring-slate-300 hover:bg-slate-100"
        >
          {t("reconnect")}
        </button>
      )}
    </span>
  );
}
