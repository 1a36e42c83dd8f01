// The console endpoints' WebSockets, on the maintained `ws` package (docs/decisions/019-ws-library.md).
// `ws` speaks the protocol: handshake, framing and masking, UTF-8 checks, fragments, ping/pong, the
// close handshake and its timeout. This module adds what the serial and VNC consoles need on top:
// text and binary as separate events, a liveness ping, a cap on what is queued for a slow peer,
// listeners in place before the first message arrives, and a small client for tests and tools.
import { EventEmitter } from "node:events";
import http from "node:http";
import type { Duplex } from "node:stream";
import RawWebSocket, { WebSocketServer, type ClientOptions, type RawData, type ServerOptions } from "ws";
import { CLOSE } from "../../../lib/ws-frames";

const DEFAULT_MAX_MESSAGE = 1024 * 1024;
const DEFAULT_MAX_BUFFERED = 4 * 1024 * 1024;
/** After we send a close frame, the peer has this long to answer before the transport is dropped. */
const CLOSE_TIMEOUT_MS = 5_000;
/** A close reason must fit a 125-byte control frame with its 2-byte code. */
const MAX_REASON_BYTES = 123;

/** The upgrade request is not a WebSocket handshake `ws` accepts; nothing was written to the socket. */
export class HandshakeError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "HandshakeError";
  }
}

/** Answers an upgrade with a plain HTTP error and closes the socket. */
export function rejectUpgrade(socket: Duplex, status: number, body: unknown, extra: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  const headers = {
    "content-type": "application/json; charset=utf-8",
    "content-length": String(Buffer.byteLength(text)),
    connection: "close",
    "cache-control": "no-store",
    ...extra,
  };
  const head = [
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? "Error"}`,
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    "",
    "",
  ].join("\r\n");
  if (socket.writable) socket.end(head + text);
  else socket.destroy();
}

export interface WsOptions {
  /** largest message accepted (default 1 MiB); a bigger one fails the connection with 1009 */
  maxMessage?: number;
  /** ping interval; a peer that sends nothing, not even a pong, for a whole interval is dropped (0 = off) */
  pingMs?: number;
  /** close with 1013 when this much is queued for a slow peer (default 4 MiB) */
  maxBuffered?: number;
}

export interface WebSocketEvents {
  text: [string];
  binary: [Buffer];
  close: [code: number, reason: string];
}

/** Cuts a close reason to the protocol's limit at a UTF-8 character boundary. */
function fitReason(reason: string): string {
  if (Buffer.byteLength(reason) <= MAX_REASON_BYTES) return reason;
  return Buffer.from(reason)
    .subarray(0, MAX_REASON_BYTES - 3)
    .toString("utf8")
    .replace(/\uFFFD+$/, "");
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}

/**
 * One open WebSocket (either role). Emits 'text', 'binary' and, exactly once, 'close' (1006 when
 * the transport died without a close frame). Messages are held until the next turn of the event
 * loop so the caller can attach listeners: the 101 often arrives in one packet with the first
 * messages (scrollback), even with a close frame.
 */
export class WebSocket extends EventEmitter<WebSocketEvents> {
  private alive = true;
  private pinger: NodeJS.Timeout | null = null;
  private readonly maxBuffered: number;

  constructor(
    private readonly ws: RawWebSocket,
    opts: WsOptions = {},
  ) {
    super();
    this.maxBuffered = opts.maxBuffered ?? DEFAULT_MAX_BUFFERED;
    ws.pause();
    setImmediate(() => ws.resume());
    ws.on("message", (data, isBinary) => {
      this.alive = true;
      if (ws.readyState !== RawWebSocket.OPEN) return; // closing: what the peer still sends is dropped
      const buf = toBuffer(data);
      if (isBinary) this.emit("binary", buf);
      else this.emit("text", buf.toString("utf8"));
    });
    ws.on("ping", () => (this.alive = true));
    ws.on("pong", () => (this.alive = true));
    // A protocol error (bad frame, oversize message, invalid UTF-8): `ws` has already answered with
    // the matching close code and reports 'close' next. Without a listener it would be thrown.
    ws.on("error", () => {});
    ws.once("close", (code, reason) => {
      if (this.pinger) clearInterval(this.pinger);
      this.emit("close", code, reason.toString("utf8"));
    });
    if (opts.pingMs) {
      this.pinger = setInterval(() => {
        if (!this.alive) return ws.terminate();
        this.alive = false;
        ws.ping();
      }, opts.pingMs);
      this.pinger.unref();
    }
  }

  get isOpen(): boolean {
    return this.ws.readyState === RawWebSocket.OPEN;
  }

  /** Bytes queued for the peer (backpressure signal). */
  get buffered(): number {
    return this.ws.bufferedAmount;
  }

  sendText(s: string): void {
    this.send(s);
  }

  /** `done` runs once this message has been handed to the OS (or failed with the connection). */
  sendBinary(b: Uint8Array, done?: (err?: Error) => void): void {
    this.send(b, done);
  }

  private send(data: string | Uint8Array, done?: (err?: Error) => void): void {
    if (this.isOpen && this.buffered > this.maxBuffered) this.close(CLOSE.tryAgain, "peer too slow");
    if (!this.isOpen) {
      if (done) process.nextTick(done, new Error("the WebSocket is closing; message dropped"));
      return;
    }
    this.ws.send(data, { binary: typeof data !== "string" }, done);
  }

  /** Starts the close handshake; the transport is dropped if the peer does not answer in 5 s. */
  close(code: number = CLOSE.normal, reason = ""): void {
    if (!this.isOpen) return;
    this.ws.close(code, fitReason(reason));
  }

  /** Drops the transport without a close handshake ('close' reports 1006). */
  terminate(): void {
    this.ws.terminate();
  }
}

/**
 * Completes a server-side handshake on an upgrade socket. When `ws` refuses the request (not GET,
 * no Upgrade: websocket, bad key or version) this throws HandshakeError and leaves the socket to the
 * caller, who answers in its own error format.
 */
export function acceptUpgrade(
  req: http.IncomingMessage,
  socket: Duplex,
  head: Buffer,
  opts: WsOptions = {},
): WebSocket {
  const serverOpts: ServerOptions & { closeTimeout: number } = {
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    maxPayload: opts.maxMessage ?? DEFAULT_MAX_MESSAGE,
    closeTimeout: CLOSE_TIMEOUT_MS,
  };
  const server = new WebSocketServer(serverOpts);
  let refused: Error | null = null;
  server.on("wsClientError", (err: Error) => (refused = err));
  let accepted = null as RawWebSocket | null;
  // Synchronous: `ws` validates, writes the 101 and calls back before returning (no verifyClient).
  server.handleUpgrade(req, socket, head, (ws) => (accepted = ws));
  if (refused) throw new HandshakeError(req.method === "GET" ? 400 : 405, (refused as Error).message);
  if (!accepted) throw new HandshakeError(400, "the client went away during the WebSocket handshake");
  return new WebSocket(accepted, opts);
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

/**
 * Client side (tests, tools): opens a ws:// (or wss://) URL with extra headers; rejects with
 * UpgradeRefused on a non-101 answer.
 */
export function connectWebSocket(
  url: string,
  headers: Record<string, string> = {},
  opts: WsOptions & { timeoutMs?: number } = {},
): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const clientOpts: ClientOptions & { closeTimeout: number } = {
      headers,
      perMessageDeflate: false,
      maxPayload: opts.maxMessage ?? DEFAULT_MAX_MESSAGE,
      handshakeTimeout: opts.timeoutMs ?? 10_000,
      closeTimeout: CLOSE_TIMEOUT_MS,
    };
    const ws = new RawWebSocket(url, clientOpts);
    let settled = false;
    const fail = (e: Error) => {
      if (settled) return;
      settled = true;
      reject(e);
    };
    ws.on("error", fail);
    ws.once("unexpected-response", (req, res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", fail);
      res.on("end", () => {
        fail(new UpgradeRefused(res.statusCode ?? 0, Buffer.concat(chunks).toString("utf8")));
        ws.terminate();
      });
    });
    ws.once("open", () => {
      settled = true;
      resolve(new WebSocket(ws, opts));
    });
  });
}
