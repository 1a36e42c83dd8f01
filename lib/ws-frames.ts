// RFC 6455 frame codec, pure (Uint8Array only) so the agent, the controller and tests share it.
// No extensions are ever negotiated, so any RSV bit is a protocol error.

export const OPCODE = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;
export type Opcode = (typeof OPCODE)[keyof typeof OPCODE];

/** Close codes we send (RFC 6455 §7.4.1). */
export const CLOSE = {
  normal: 1000,
  goingAway: 1001,
  protocol: 1002,
  badData: 1007,
  policy: 1008,
  tooBig: 1009,
  internal: 1011,
  tryAgain: 1013,
} as const;

export class WsProtocolError extends Error {
  constructor(
    readonly closeCode: number,
    message: string,
  ) {
    super(message);
    this.name = "WsProtocolError";
  }
}

export interface Frame {
  fin: boolean;
  opcode: number;
  /** already unmasked */
  payload: Uint8Array;
  masked: boolean;
}

const isControl = (op: number) => op >= 0x8;
const KNOWN = new Set<number>(Object.values(OPCODE));

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

function applyMask(data: Uint8Array, mask: Uint8Array): Uint8Array {
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i]! ^ mask[i & 3]!;
  return out;
}

/** One frame on the wire. A client must pass a fresh random 4-byte mask; a server passes none. */
export function encodeFrame(
  opcode: number,
  payload: Uint8Array,
  opts: { fin?: boolean; mask?: Uint8Array } = {},
): Uint8Array {
  const fin = opts.fin ?? true;
  if (isControl(opcode) && (payload.length > 125 || !fin))
    throw new WsProtocolError(CLOSE.protocol, "control frames must be final and at most 125 bytes");
  const len = payload.length;
  const extra = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const maskLen = opts.mask ? 4 : 0;
  const out = new Uint8Array(2 + extra + maskLen + len);
  out[0] = (fin ? 0x80 : 0) | (opcode & 0x0f);
  const view = new DataView(out.buffer);
  if (extra === 0) out[1] = len;
  else if (extra === 2) {
    out[1] = 126;
    view.setUint16(2, len);
  } else {
    out[1] = 127;
    view.setUint32(2, Math.floor(len / 2 ** 32));
    view.setUint32(6, len >>> 0);
  }
  if (opts.mask) {
    if (opts.mask.length !== 4) throw new Error("mask must be 4 bytes");
    out[1]! |= 0x80;
    out.set(opts.mask, 2 + extra);
    out.set(applyMask(payload, opts.mask), 2 + extra + 4);
  } else {
    out.set(payload, 2 + extra);
  }
  return out;
}

export function encodeClosePayload(code: number, reason = ""): Uint8Array {
  // Reasons are for humans; cut to fit the 125-byte control frame limit (at a UTF-8 boundary).
  let r = new TextEncoder().encode(reason);
  if (r.length > 123) r = new TextEncoder().encode(new TextDecoder().decode(r.subarray(0, 120)).replace(/\uFFFD$/, ""));
  const out = new Uint8Array(2 + r.length);
  new DataView(out.buffer).setUint16(0, code);
  out.set(r, 2);
  return out;
}

/** Close payload -> {code, reason}; an empty payload means "no status" (1005). */
export function decodeClosePayload(p: Uint8Array): { code: number; reason: string } {
  if (p.length === 0) return { code: 1005, reason: "" };
  if (p.length === 1) throw new WsProtocolError(CLOSE.protocol, "close payload of one byte");
  const code = new DataView(p.buffer, p.byteOffset, p.byteLength).getUint16(0);
  const valid = (code >= 1000 && code <= 1014 && ![1004, 1005, 1006].includes(code)) || (code >= 3000 && code <= 4999);
  if (!valid) throw new WsProtocolError(CLOSE.protocol, `invalid close code ${code}`);
  let reason: string;
  try {
    reason = new TextDecoder("utf-8", { fatal: true }).decode(p.subarray(2));
  } catch {
    throw new WsProtocolError(CLOSE.badData, "close reason is not UTF-8");
  }
  return { code, reason };
}

export interface DecoderOptions {
  /** "server" requires masked frames (from clients); "client" requires unmasked ones */
  role: "server" | "client";
  /** largest single frame payload accepted (1009 above it) */
  maxPayload: number;
}

/** Incremental frame parser: push() bytes as they arrive, get whole frames back. */
export class FrameDecoder {
  private buf: Uint8Array = new Uint8Array(0);
  constructor(private readonly opts: DecoderOptions) {}

  push(chunk: Uint8Array): Frame[] {
    this.buf = concat(this.buf, chunk);
    const frames: Frame[] = [];
    for (;;) {
      const f = this.next();
      if (!f) break;
      frames.push(f);
    }
    return frames;
  }

  private next(): Frame | null {
    const b = this.buf;
    if (b.length < 2) return null;
    const b0 = b[0]!;
    const b1 = b[1]!;
    if (b0 & 0x70) throw new WsProtocolError(CLOSE.protocol, "reserved bits set (no extension was negotiated)");
    const fin = Boolean(b0 & 0x80);
    const opcode = b0 & 0x0f;
    if (!KNOWN.has(opcode)) throw new WsProtocolError(CLOSE.protocol, `unknown opcode ${opcode}`);
    const masked = Boolean(b1 & 0x80);
    if (this.opts.role === "server" && !masked)
      throw new WsProtocolError(CLOSE.protocol, "client frames must be masked");
    if (this.opts.role === "client" && masked)
      throw new WsProtocolError(CLOSE.protocol, "server frames must not be masked");
    let len = b1 & 0x7f;
    let off = 2;
    const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    if (len === 126) {
      if (b.length < 4) return null;
      len = view.getUint16(2);
      off = 4;
    } else if (len === 127) {
      if (b.length < 10) return null;
      const hi = view.getUint32(2);
      if (hi & 0x80000000) throw new WsProtocolError(CLOSE.protocol, "64-bit length with the top bit set");
      len = hi * 2 ** 32 + view.getUint32(6);
      off = 10;
    }
    if (isControl(opcode) && (len > 125 || !fin))
      throw new WsProtocolError(CLOSE.protocol, "fragmented or oversize control frame");
    // Checked before buffering the payload, so a hostile length cannot make us allocate it.
    if (len > this.opts.maxPayload)
      throw new WsProtocolError(CLOSE.tooBig, `frame of ${len} bytes is over the ${this.opts.maxPayload}-byte limit`);
    const maskOff = off;
    if (masked) off += 4;
    if (b.length < off + len) return null;
    const raw = b.subarray(off, off + len);
    const payload: Uint8Array = masked ? applyMask(raw, b.subarray(maskOff, maskOff + 4)) : raw.slice();
    this.buf = b.subarray(off + len);
    return { fin, opcode, payload, masked };
  }
}

export type WsEvent =
  | { type: "text"; data: string }
  | { type: "binary"; data: Uint8Array }
  | { type: "ping"; data: Uint8Array }
  | { type: "pong"; data: Uint8Array }
  | { type: "close"; code: number; reason: string };

/** Frames -> messages: joins fragments, checks UTF-8 of text, decodes close. */
export class MessageAssembler {
  private op: number | null = null;
  private parts: Uint8Array[] = [];
  private size = 0;
  constructor(private readonly maxMessage: number) {}

  accept(f: Frame): WsEvent | null {
    switch (f.opcode) {
      case OPCODE.ping:
        return { type: "ping", data: f.payload };
      case OPCODE.pong:
        return { type: "pong", data: f.payload };
      case OPCODE.close:
        return { type: "close", ...decodeClosePayload(f.payload) };
      case OPCODE.continuation:
        if (this.op === null)
          throw new WsProtocolError(CLOSE.protocol, "continuation frame without a message to continue");
        break;
      default:
        if (this.op !== null) throw new WsProtocolError(CLOSE.protocol, "new data frame inside a fragmented message");
        this.op = f.opcode;
    }
    this.size += f.payload.length;
    if (this.size > this.maxMessage)
      throw new WsProtocolError(CLOSE.tooBig, `message over the ${this.maxMessage}-byte limit`);
    this.parts.push(f.payload);
    if (!f.fin) return null;
    const data = this.parts.length === 1 ? this.parts[0]! : this.parts.reduce(concat, new Uint8Array(0));
    const op = this.op;
    this.op = null;
    this.parts = [];
    this.size = 0;
    if (op === OPCODE.text) {
      try {
        return { type: "text", data: new TextDecoder("utf-8", { fatal: true }).decode(data) };
      } catch {
        throw new WsProtocolError(CLOSE.badData, "text message is not valid UTF-8");
      }
    }
    return { type: "binary", data };
  }
}
