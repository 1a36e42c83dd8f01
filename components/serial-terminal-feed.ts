// Between the serial console's WebSocket and the terminal emulator, which loads lazily: output that
// arrives before the terminal exists is held (bounded), and each connection starts on a clean screen
// because the agent resends its scrollback to every new connection. Pure, so it is unit-tested.

export type TerminalChunk = string | Uint8Array;

/** What the feed writes to: the terminal once it is loaded. */
export interface TerminalSink {
  /** Clears screen and scrollback and resets the emulator's modes. */
  reset(): void;
  /** `replay` marks the scrollback the agent resends on connecting (queries in it must not be answered). */
  write(data: TerminalChunk, replay: boolean): void;
}

/** Output held while the terminal loads; beyond this the oldest chunks are dropped (the agent resends 64 kB). */
export const MAX_HELD_BYTES = 1 << 20;

const size = (c: TerminalChunk) => (typeof c === "string" ? c.length : c.byteLength);

export class TerminalFeed {
  private sink: TerminalSink | null = null;
  private held: { data: TerminalChunk; replay: boolean }[] = [];
  private heldBytes = 0;
  /** the next chunk is the first of a connection: the scrollback replay */
  private fresh = false;

  constructor(private readonly maxHeld = MAX_HELD_BYTES) {}

  /** A new connection: what it sends replaces what is shown. */
  reset(): void {
    this.held = [];
    this.heldBytes = 0;
    this.fresh = true;
    this.sink?.reset();
  }

  write(data: TerminalChunk): void {
    const replay = this.fresh;
    this.fresh = false;
    if (this.sink) return this.sink.write(data, replay);
    this.held.push({ data, replay });
    this.heldBytes += size(data);
    while (this.heldBytes > this.maxHeld && this.held.length > 1) this.heldBytes -= size(this.held.shift()!.data);
  }

  /** The terminal is ready: it gets what was held, then live output. Returns the detach function. */
  attach(sink: TerminalSink): () => void {
    this.sink = sink;
    sink.reset();
    for (const h of this.held) sink.write(h.data, h.replay);
    this.held = [];
    this.heldBytes = 0;
    return () => {
      if (this.sink === sink) this.sink = null;
    };
  }
}

/**
 * An answer the emulator itself sends for a query in the output (cursor position "ESC[24;5R", device
 * attributes "ESC[?1;2c", status "ESC[0n", DCS/OSC reports): while the scrollback replays these would
 * reach the guest as typed input (busybox's line editor asks for the cursor position at every prompt).
 */
export function isTerminalReply(data: string): boolean {
  return /^\x1b\[[?>=]?[\d;]*[Rcn]$/.test(data) || /^\x1b[P\]]/.test(data);
}

/** xterm's onBinary data (one char per byte, e.g. old mouse reports) as bytes. */
export function binaryStringBytes(data: string): Uint8Array {
  return Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff);
}
