import { afterAll, beforeAll, describe, expect, it } from "vitest";
import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { CLOSE, encodeClosePayload, encodeFrame, FrameDecoder, OPCODE } from "../../lib/ws-frames";
import { acceptKeyFor, acceptUpgrade, connectWebSocket, HandshakeError, rejectUpgrade, UpgradeRefused, type WebSocket } from "./ws";

const MASK = new Uint8Array([9, 8, 7, 6]);

describe("WebSocket handshake and connection (node:http 'upgrade')", () => {
  let server: http.Server;
  let port = 0;
  const serverSides: WebSocket[] = [];
  const closes: Array<[number, string]> = [];

  beforeAll(async () => {
    server = http.createServer((_req, res) => res.writeHead(404).end());
    server.on("upgrade", (req, socket, head) => {
      try {
        const ws = acceptUpgrade(req, socket, head, { maxMessage: 1024 });
        serverSides.push(ws);
        ws.on("text", (s) => (s === "bye" ? ws.close(4000, "asked") : ws.sendText(`echo:${s}`)));
        ws.on("binary", (b) => ws.sendBinary(Buffer.concat([Buffer.from("bin:"), b])));
        ws.on("close", (code, reason) => closes.push([code, reason]));
      } catch (e) {
        rejectUpgrade(socket, e instanceof HandshakeError ? e.status : 500, { error: String(e) });
      }
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    for (const ws of serverSides) ws.terminate();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  /** Raw TCP client: handshake, then returns the socket and everything after the 101 head. */
  async function raw(headers: Record<string, string>): Promise<{ sock: net.Socket; head: string; frames: () => Promise<Uint8Array> }> {
    const sock = net.connect(port, "127.0.0.1");
    await new Promise((r) => sock.once("connect", r));
    const h = { Host: `127.0.0.1:${port}`, ...headers };
    sock.write(`GET /x HTTP/1.1\r\n${Object.entries(h).map(([k, v]) => `${k}: ${v}`).join("\r\n")}\r\n\r\n`);
    let buf = Buffer.alloc(0);
    sock.on("data", (c: Buffer) => (buf = Buffer.concat([buf, c])));
    await new Promise<void>((resolve) => {
      const t = setInterval(() => {
        if (buf.includes("\r\n\r\n") || sock.destroyed) {
          clearInterval(t);
          resolve();
        }
      }, 5);
    });
    const end = buf.indexOf("\r\n\r\n") + 4;
    const head = buf.subarray(0, end).toString();
    buf = buf.subarray(end);
    return {
      sock,
      head,
      frames: async () => {
        await new Promise((r) => setTimeout(r, 100));
        const out = buf;
        buf = Buffer.alloc(0);
        return out;
      },
    };
  }

  it("computes Sec-WebSocket-Accept as in RFC 6455 §1.3", () => {
    expect(acceptKeyFor("dGhlIHNhbXBsZSBub25jZQ==")).toBe("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  });

  it("echoes text and binary, both directions masked correctly", async () => {
    const ws = await connectWebSocket(`ws://127.0.0.1:${port}/x`);
    const got: string[] = [];
    ws.on("text", (s) => got.push(s));
    ws.on("binary", (b) => got.push(b.toString()));
    ws.sendText("héllo");
    ws.sendBinary(Buffer.from("raw"));
    ws.sendText("x".repeat(1000)); // 16-bit length
    await until(() => got.length === 3);
    expect(got).toEqual(["echo:héllo", "bin:raw", `echo:${"x".repeat(1000)}`]);
    const closed = new Promise<[number, string]>((r) => ws.on("close", (c, why) => r([c, why])));
    ws.sendText("bye");
    expect(await closed).toEqual([4000, "asked"]);
  });

  it("answers ping with pong, and the close handshake with an echo of the code", async () => {
    const key = Buffer.from("0123456789abcdef").toString("base64");
    const c = await raw({ Upgrade: "websocket", Connection: "keep-alive, Upgrade", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": key });
    expect(c.head).toMatch(/^HTTP\/1.1 101/);
    expect(c.head).toContain(`Sec-WebSocket-Accept: ${acceptKeyFor(key)}`);
    c.sock.write(encodeFrame(OPCODE.ping, Buffer.from("hi"), { mask: MASK }));
    const d = new FrameDecoder({ role: "client", maxPayload: 1000 });
    const [pong] = d.push(await c.frames());
    expect(pong).toMatchObject({ opcode: OPCODE.pong });
    expect(Buffer.from(pong!.payload).toString()).toBe("hi");
    c.sock.write(encodeFrame(OPCODE.close, encodeClosePayload(1000, "done"), { mask: MASK }));
    const [close] = d.push(await c.frames());
    expect(close).toMatchObject({ opcode: OPCODE.close });
    expect(c.sock.readableEnded || c.sock.destroyed).toBe(true);
    expect(closes.at(-1)).toEqual([1000, "done"]);
  });

  it("fails the connection with 1002 on an unmasked client frame and 1009 on an oversize one", async () => {
    const key = Buffer.from("fedcba9876543210").toString("base64");
    for (const [frame, code] of [
      [encodeFrame(OPCODE.text, Buffer.from("no mask")), CLOSE.protocol],
      [encodeFrame(OPCODE.binary, new Uint8Array(2000), { mask: MASK }), CLOSE.tooBig],
    ] as const) {
      const c = await raw({ Upgrade: "websocket", Connection: "Upgrade", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": key });
      c.sock.write(frame);
      const [close] = new FrameDecoder({ role: "client", maxPayload: 1000 }).push(await c.frames());
      expect(close?.opcode).toBe(OPCODE.close);
      expect(Buffer.from(close!.payload).readUInt16BE(0)).toBe(code);
      c.sock.destroy();
    }
  });

  it("refuses malformed handshakes with an HTTP status", async () => {
    const bad = await raw({ Upgrade: "websocket", Connection: "Upgrade", "Sec-WebSocket-Version": "8", "Sec-WebSocket-Key": "AAAAAAAAAAAAAAAAAAAAAA==" });
    expect(bad.head).toMatch(/^HTTP\/1.1 426/);
    const noKey = await raw({ Upgrade: "websocket", Connection: "Upgrade", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "short" });
    expect(noKey.head).toMatch(/^HTTP\/1.1 400/);
    bad.sock.destroy();
    noKey.sock.destroy();
  });

  it("the client rejects a non-101 answer", async () => {
    const other = http.createServer((_q, res) => res.writeHead(403, { "content-type": "application/json" }).end('{"no":1}'));
    await new Promise<void>((r) => other.listen(0, "127.0.0.1", r));
    const p = (other.address() as AddressInfo).port;
    await expect(connectWebSocket(`ws://127.0.0.1:${p}/`)).rejects.toMatchObject({ status: 403, body: '{"no":1}' });
    await expect(connectWebSocket(`ws://127.0.0.1:${p}/`)).rejects.toBeInstanceOf(UpgradeRefused);
    other.closeAllConnections();
    await new Promise((r) => other.close(r));
  });
});

async function until(fn: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
}
