"use client";
// The serial console's screen: xterm.js (DOM renderer) fed by a TerminalFeed. Loaded through
// next/dynamic from serial-console.tsx, so xterm and its CSS reach the browser only where a console is shown.
// Every key goes to the guest as the bytes a terminal sends (onData); the guest's answers and
// full-screen programs (top, vi) are drawn by the emulator. ADR 048.
import "@xterm/xterm/css/xterm.css";
import { useTranslations } from "next-intl";
import { useEffect, useEffectEvent, useRef } from "react";
import { Terminal } from "@xterm/xterm";
import { FitAddon } from "@xterm/addon-fit";
import {
  binaryStringBytes,
  isTerminalReply,
  type TerminalChunk,
  type TerminalFeed,
} from "@/components/serial-terminal-feed";

export const SCROLLBACK_LINES = 5000;

export type TerminalSize = { cols: number; rows: number };

/** Copies to the browser clipboard; without the Clipboard API (plain http) the copy event reaches xterm's own handler. */
function copyText(text: string): void {
  if (navigator.clipboard && window.isSecureContext) void navigator.clipboard.writeText(text).catch(() => {});
  else document.execCommand("copy");
}

/**
 * Ctrl-Shift-C copies the selection, Ctrl-Shift-V pastes (the browser's own paste event, which xterm turns
 * into input), as in desktop terminals; Ctrl-C and Ctrl-V stay the control characters the guest expects.
 * Right-click gives the browser's menu (Copy/Paste) over the terminal.
 */
function clipboardKeys(term: Terminal) {
  return (ev: KeyboardEvent): boolean => {
    if (!ev.ctrlKey || !ev.shiftKey || ev.altKey || ev.metaKey) return true;
    const key = ev.key.toLowerCase();
    if (key !== "c" && key !== "v") return true;
    if (key === "c" && ev.type === "keydown") {
      ev.preventDefault();
      if (term.hasSelection()) copyText(term.getSelection());
    }
    return false; // not a key for the guest; for V the browser goes on to paste
  };
}

export function SerialTerminal({
  feed,
  canType,
  onInput,
  onResize,
}: {
  feed: TerminalFeed;
  /** connected with write access: stdin on; otherwise the emulator sends nothing */
  canType: boolean;
  onInput: (data: TerminalChunk) => void;
  onResize?: (size: TerminalSize) => void;
}) {
  const boxRef = useRef<HTMLDivElement | null>(null);
  const termRef = useRef<Terminal | null>(null);
  const t = useTranslations("console");
  const inputLabel = canType ? t("inputLabel") : t("inputLabelReadOnly");
  const input = useEffectEvent(onInput);
  const resized = useEffectEvent((size: TerminalSize) => onResize?.(size));

  useEffect(() => {
    const box = boxRef.current;
    if (!box) return;
    const term = new Terminal({
      scrollback: SCROLLBACK_LINES,
      disableStdin: true,
      cursorBlink: true,
      fontSize: 13,
      fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, 'Liberation Mono', monospace",
      theme: { background: "#020617", foreground: "#f1f5f9" },
    });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(box);
    term.attachCustomKeyEventHandler(clipboardKeys(term));
    // Answers to queries in the replayed scrollback are dropped: those questions were asked long ago.
    let replaying = 0;
    const subs = [
      term.onData((d) => (replaying > 0 && isTerminalReply(d) ? undefined : input(d))),
      term.onBinary((d) => input(binaryStringBytes(d))),
      term.onResize(({ cols, rows }) => resized({ cols, rows })),
    ];
    // The container decides the size. A serial line has no window-size channel (no TIOCSWINSZ as on
    // a pty): the guest keeps its own idea of rows and columns; `stty rows R cols C` there matches it.
    const refit = () => {
      if (box.clientWidth > 0 && box.clientHeight > 0) fit.fit();
    };
    refit();
    resized({ cols: term.cols, rows: term.rows });
    const observer = new ResizeObserver(refit);
    observer.observe(box);
    const detach = feed.attach({
      reset: () => term.reset(),
      write: (data, replay) => {
        if (!replay) return term.write(data);
        replaying++;
        term.write(data, () => replaying--);
      },
    });
    termRef.current = term;
    return () => {
      termRef.current = null;
      detach();
      observer.disconnect();
      for (const s of subs) s.dispose();
      term.dispose();
    };
  }, [feed]);

  useEffect(() => {
    const term = termRef.current;
    if (!term) return;
    term.options.disableStdin = !canType;
    const ta = term.textarea;
    if (!ta) return;
    // the element keys go to: tests and assistive technology see whether typing reaches the guest
    ta.setAttribute("data-testid", "serial-console-input");
    ta.setAttribute("aria-label", inputLabel);
    ta.readOnly = !canType;
    if (canType) ta.removeAttribute("aria-disabled");
    else ta.setAttribute("aria-disabled", "true");
  }, [canType, inputLabel]);

  return <div ref={boxRef} className="h-96 w-full" />;
}
