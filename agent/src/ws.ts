// A small RFC 6455 WebSocket on node:http 'upgrade' (no dependency: the agent must stay one plain
// JS bundle). Frame parsing lives in lib/ws-frames.ts; this file does the handshake and the
// connection state machine (ping/pong, close handshake, backpressure), for both roles.
import { createHash, randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import http from "node:http";
import type { Duplex } from "node:stream";
import { CLOSE, encodeClosePayload, encodeFrame, FrameDecoder, MessageAssembler, OPCODE, WsProtocolError, type WsEvent } from "../../lib/ws-frames";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

export function acceptKeyFor(key: string): string {
  return createHash("sha1").update(key + GUID).digest("base64");
}

export class HandshakeError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "HandshakeError";
  }
}

/** Validates an upgrade request (RFC 6455 §4.2.1) and returns the Sec-WebSocket-Accept value. */
export function checkUpgradeRequest(req: http.IncomingMessage): string {
  if (req.method !== "GET") throw new HandshakeError(405, "WebSocket upgrade needs GET");
  if ((req.headers.upgrade ?? "").toLowerCase() !== "websocket") throw new HandshakeError(400, "Upgrade: websocket expected");
  const conn = (req.headers.connection ?? "").toLowerCase().split(",").map((s) => s.trim());
  if (!conn.includes("upgrade")) throw new HandshakeError(400, "Connection: Upgrade expected");
  if (req.headers["sec-websocket-version"] !== "13") throw new HandshakeError(426, "Sec-WebSocket-Version 13 expected");
  const key = req.headers["sec-websocket-key"];
  if (typeof key !== "string" || Buffer.from(key, "base64").length !== 16) throw new HandshakeError(400, "Sec-WebSocket-Key must be 16 bytes in base64");
  return acceptKeyFor(key);
}

/** Answers an upgrade with a plain HTTP error and closes the socket. */
export function rejectUpgrade(socket: Duplex, status: number, body: unknown, extra: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  const headers = { "content-type": "application/json; charset=utf-8", "content-length": String(Buffer.byteLength(text)), connection: "close", "cache-control": "no-store", ...extra };
  const head = [`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? "Error"}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), "", ""].join("\r\n");
  if (socket.writable) socket.end(head + text);
  else socket.destroy();
}

export interface WsOptions {
  role: "server" | "client";
  /** largest message accepted (default 1 MiB) */
  maxMessage?: number;
  /** ping interval; a peer that misses a whole interval is dropped (0 = off) */
  pingMs?: number;
  /** close the connection when this much is queued for a slow peer (default 4 MiB) */
  maxBuffered?: number;
}

export interface WebSocketEvents {
  text: [string];
  binary: [Buffer];
  close: [code: number, reason: string];
}

/**
 * One open WebSocket. Emits 'text', 'binary' and, exactly once, 'close' (code 1006 when the
 * transport died without a close frame).
 */
export class WebSocket extends EventEmitter<WebSocketEvents> {
  private readonly decoder: FrameDecoder;
  private readonly assembler: MessageAssembler;
  private closeSent = false;
  private closed = false;
  private alive = true;
  private pinger: NodeJS.Timeout | null = null;
  private closeTimer: NodeJS.Timeout | null = null;
  /** what we closed with, reported in 'close' once the peer answers */
  private pendingClose: { code: number; reason: string } | null = null;
  private readonly maxBuffered: number;

  constructor(
    readonly socket: Duplex,
    private readonly opts: WsOptions,
    head?: Buffer,
  ) {
    super();
    const max = opts.maxMessage ?? 1024 * 1024;
    this.maxBuffered = opts.maxBuffered ?? 4 * 1024 * 1024;
    this.decoder = new FrameDecoder({ role: opts.role, maxPayload: max });
    this.assembler = new MessageAssembler(max);
    const s = socket as Duplex & { setNoDelay?: (b: boolean) => void; setTimeout?: (ms: number) => void };
    s.setNoDelay?.(true); // keystrokes are tiny: do not wait for Nagle
    s.setTimeout?.(0);
    // Hold incoming bytes until the caller has had a turn to attach listeners: the 101 often
    // arrives in one packet with the first messages (scrollback), even with a close frame.
    socket.pause();
    socket.on("data", (c: Buffer) => this.onData(c));
    socket.on("error", () => this.finish(1006, "transport error"));
    socket.on("close", () => this.finish(1006, "transport closed"));
    socket.on("end", () => socket.end());
    if (opts.pingMs) {
      this.pinger = setInterval(() => {
        if (!this.alive) return this.terminate(1006, "no pong");
        this.alive = false;
        this.writeFrame(OPCODE.ping, new Uint8Array(0));
      }, opts.pingMs);
      this.pinger.unref();
    }
    setImmediate(() => {
      if (head && head.length) this.onData(head);
      socket.resume();
    });
  }

  get isOpen(): boolean {
    return !this.closed && !this.closeSent;
  }

  /** Bytes queued for the peer (backpressure signal). */
  get buffered(): number {
    return (this.socket as Duplex & { writableLength: number }).writableLength;
  }

  sendText(s: string): void {
    this.send(OPCODE.text, new TextEncoder().encode(s));
  }

  sendBinary(b: Uint8Array): void {
    this.send(OPCODE.binary, b);
  }

  private send(op: number, payload: Uint8Array): void {
    if (!this.isOpen) return;
    if (this.buffered > this.maxBuffered) return this.close(CLOSE.tryAgain, "peer too slow");
    this.writeFrame(op, payload);
  }

  private writeFrame(op: number, payload: Uint8Array): void {
    if (this.closed || !this.socket.writable) return;
    const mask = this.opts.role === "client" ? randomBytes(4) : undefined;
    this.socket.write(encodeFrame(op, payload, { mask }));
  }

  /** Starts the close handshake; the transport is dropped if the peer does not answer in 5 s. */
  close(code: number = CLOSE.normal, reason = ""): void {
    if (this.closed || this.closeSent) return;
    this.closeSent = true;
    this.writeFrame(OPCODE.close, encodeClosePayload(code, reason));
    this.closeTimer = setTimeout(() => this.terminate(code, reason), 5_000);
    this.closeTimer.unref();
    this.pendingClose = { code, reason };
  }

  terminate(code = 1006, reason = "terminated"): void {
    this.socket.destroy();
    this.finish(code, reason);
  }

  private finish(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    if (this.pinger) clearInterval(this.pinger);
    if (this.closeTimer) clearTimeout(this.closeTimer);
    this.emit("close", code, reason);
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    let events: WsEvent[] = [];
    try {
      for (const f of this.decoder.push(chunk)) {
        const e = this.assembler.accept(f);
        if (e) events.push(e);
      }
    } catch (err) {
      const code = err instanceof WsProtocolError ? err.closeCode : CLOSE.protocol;
      const why = err instanceof Error ? err.message : "protocol error";
      // deliver what was parsed before the bad frame, then fail the connection
      for (const e of events) this.dispatch(e);
      events = [];
      this.writeFrame(OPCODE.close, encodeClosePayload(code, why));
      this.closeSent = true;
      this.socket.end();
      this.finish(code, why);
      return;
    }
    for (const e of events) this.dispatch(e);
  }

  private dispatch(e: WsEvent): void {
    if (this.closed) return;
    this.alive = true;
    switch (e.type) {
      case "text":
        if (!this.closeSent) this.emit("text", e.data);
        return;
      case "binary":
        if (!this.closeSent) this.emit("binary", Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength));
        return;
      case "ping":
        this.writeFrame(OPCODE.pong, e.data);
        return;
      case "pong":
        return;
      case "close": {
        const mine = this.pendingClose;
        if (!this.closeSent) {
          // Echo the peer's code (§5.5.1); 1005 means "no code", so answer with an empty payload.
          this.writeFrame(OPCODE.close, e.code === 1005 ? new Uint8Array(0) : encodeClosePayload(e.code));
          this.closeSent = true;
        }
        this.socket.end();
        this.finish(mine?.code ?? e.code, mine?.reason ?? e.reason);
        return;
      }
    }
  }
}

/** Completes a server-side handshake on an upgrade socket. */
export function acceptUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, opts: Omit<WsOptions, "role"> = {}): WebSocket {
  const accept = checkUpgradeRequest(req);
  socket.write(["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade", `Sec-WebSocket-Accept: ${accept}`, "", ""].join("\r\n"));
  return new WebSocket(socket, { ...opts, role: "server" }, head);
}

export class UpgradeRefused extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`WebSocket upgrade refused with HTTP ${status}: ${body.slice(0, 200)}`);
    this.name = "UpgradeRefused";
  }
}

/** Client side (tests, tools): opens ws:// URL with extra headers; rejects on a non-101 answer. */
export function connectWebSocket(url: string, headers: Record<string, string> = {}, opts: Omit<WsOptions, "role"> & { timeoutMs?: number } = {}): Promise<WebSocket> {
  const u = new URL(url);
  if (u.protocol !== "ws:" && u.protocol !== "http:") throw new Error(`only ws:// is supported here: ${url}`);
  const key = randomBytes(16).toString("base64");
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: u.hostname,
      port: u.port || 80,
      path: u.pathname + u.search,
      headers: { ...headers, connection: "Upgrade", upgrade: "websocket", "sec-websocket-version": "13", "sec-websocket-key": key },
      timeout: opts.timeoutMs ?? 10_000,
    });
    req.on("timeout", () => req.destroy(new Error(`WebSocket handshake with ${u.host} timed out`)));
    req.on("error", reject);
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => reject(new UpgradeRefused(res.statusCode ?? 0, Buffer.concat(chunks).toString("utf8"))));
    });
    req.on("upgrade", (res, socket, head) => {
      if (res.headers["sec-websocket-accept"] !== acceptKeyFor(key)) {
        socket.destroy();
        return reject(new Error("bad Sec-WebSocket-Accept from the server"));
      }
      resolve(new WebSocket(socket, { ...opts, role: "client" }, head));
    });
    req.end();
  });
}
