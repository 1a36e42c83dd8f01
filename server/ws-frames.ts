// Just enough of RFC 6455 framing for the console proxy to end a spliced console with its own close
// frame (ADR 029): where the agent → browser byte stream stands (at a frame boundary or inside a
// frame), and the close frame itself. Payloads are skipped by length, never read or copied, so the
// splice stays a byte pipe.

/** Follows frame boundaries in one direction of a WebSocket byte stream. */
export class FrameBoundary {
  /** header bytes of the current frame seen so far (≤ 14) */
  #header: number[] = [];
  /** payload bytes of the current frame still to come */
  #payloadLeft = 0;

  get atBoundary(): boolean {
    return this.#header.length === 0 && this.#payloadLeft === 0;
  }

  /**
   * Accounts for `chunk` and returns how many of its bytes it consumed: all of them, or with
   * `stopAtBoundary` only up to the end of the current frame (0 when already at a boundary).
   */
  feed(chunk: Uint8Array, stopAtBoundary = false): number {
    let i = 0;
    while (i < chunk.length) {
      if (stopAtBoundary && this.atBoundary) return i;
      if (this.#payloadLeft > 0) {
        const n = Math.min(this.#payloadLeft, chunk.length - i);
        this.#payloadLeft -= n;
        i += n;
        continue;
      }
      this.#header.push(chunk[i++]!);
      const need = headerLength(this.#header);
      if (need !== null && this.#header.length === need) {
        this.#payloadLeft = payloadLength(this.#header);
        this.#header = [];
      }
    }
    return i;
  }
}

/** Length of a frame header from its first bytes, or null while fewer than 2 are known. */
function headerLength(h: readonly number[]): number | null {
  if (h.length < 2) return null;
  const len7 = h[1]! & 0x7f;
  return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (h[1]! & 0x80 ? 4 : 0);
}

function payloadLength(h: readonly number[]): number {
  const len7 = h[1]! & 0x7f;
  if (len7 < 126) return len7;
  if (len7 === 126) return (h[2]! << 8) | h[3]!;
  let n = 0;
  for (let k = 2; k < 10; k++) n = n * 256 + h[k]!;
  return n;
}

/** An unmasked (server → client) close frame; the reason is cut to the 123 bytes a control frame allows. */
export function closeFrame(code: number, reason: string): Buffer {
  let text = Buffer.from(reason, "utf8");
  if (text.length > 123) {
    // cut on a character boundary: the browser fails the connection on invalid UTF-8
    let end = 123;
    while (end > 0 && (text[end]! & 0xc0) === 0x80) end--;
    text = text.subarray(0, end);
  }
  const payload = Buffer.alloc(2 + text.length);
  payload.writeUInt16BE(code, 0);
  text.copy(payload, 2);
  return Buffer.concat([Buffer.from([0x88, payload.length]), payload]);
}
