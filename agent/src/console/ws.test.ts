// The console WebSocket layer (console/ws.ts over the `ws` package) as the agent's endpoints use it:
// server side through acceptUpgrade on node:http 'upgrade', client side through connectWebSocket,
// and a raw TCP client (frames from lib/ws-frames) where a misbehaving peer is the point.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { CLOSE, encodeClosePayload, encodeFrame, FrameDecoder, OPCODE, type Frame } from "../../../lib/ws-frames";
import { until } from "../testing/support";
import {
  acceptUpgrade,
  connectWebSocket,
  HandshakeError,
  rejectUpgrade,
  UpgradeRefused,
  type WebSocket,
  type WsOptions,
} from "./ws";

const MASK = new Uint8Array([9, 8, 7, 6]);
const KEY = Buffer.from("0123456789abcdef").toString("base64");
const HANDSHAKE = {
  Upgrade: "websocket",
  Connection: "Upgrade",
  "Sec-WebSocket-Version": "13",
  "Sec-WebSocket-Key": KEY,
};

/** A node:http server whose upgrades go through acceptUpgrade; `onOpen` gets each server side. */
async function wsServer(opts: WsOptions, onOpen: (ws: WebSocket, path: string) => void) {
  const server = http.createServer((_req, res) => res.writeHead(404).end());
  const sides: WebSocket[] = [];
  const closes: Array<[number, string]> = [];
  server.on("upgrade", (req, socket, head) => {
    try {
      const ws = acceptUpgrade(req, socket, head, opts);
      sides.push(ws);
      ws.on("close", (code, reason) => closes.push([code, reason]));
      onOpen(ws, req.url ?? "/");
    } catch (e) {
      rejectUpgrade(socket, e instanceof HandshakeError ? e.status : 500, { error: String(e) });
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `ws://127.0.0.1:${port}`,
    sides,
    closes,
    async stop() {
      for (const ws of sides) ws.terminate();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

/** Raw TCP client: sends a handshake by hand, returns the response head and what follows as frames. */
async function raw(port: number, headers: Record<string, string>, method = "GET") {
  const sock = net.connect(port, "127.0.0.1");
  await new Promise((r) => sock.once("connect", r));
  const h = { Host: `127.0.0.1:${port}`, ...headers };
  sock.write(
    `${method} /x HTTP/1.1\r\n${Object.entries(h)
      .map(([k, v]) => `${k}: ${v}`)
      .join("\r\n")}\r\n\r\n`,
  );
  let buf = Buffer.alloc(0);
  sock.on("data", (c: Buffer) => (buf = Buffer.concat([buf, c])));
  await until(() => buf.includes("\r\n\r\n") || sock.destroyed, "response head", 5_000, 5);
  const end = buf.indexOf("\r\n\r\n") + 4;
  const head = buf.subarray(0, end).toString();
  buf = buf.subarray(end);
  const decoder = new FrameDecoder({ role: "client", maxPayload: 1 << 20 });
  return {
    sock,
    head,
    /** frames received so far (waits until at least `n` arrived) */
    async frames(n = 1): Promise<Frame[]> {
      const got: Frame[] = [];
      await until(
        () => {
          got.push(...decoder.push(buf));
          buf = Buffer.alloc(0);
          return got.length >= n;
        },
        `${n} frame(s)`,
        5_000,
        10,
      );
      return got;
    },
  };
}

const closeCode = (f: Frame | undefined) =>
  f && f.opcode === OPCODE.close ? Buffer.from(f.payload).readUInt16BE(0) : null;

describe("console WebSockets (ws package): echo server", () => {
  let srv: Awaited<ReturnType<typeof wsServer>>;

  beforeAll(async () => {
    srv = await wsServer({ maxMessage: 1024 }, (ws, path) => {
      if (path === "/greet") ws.sendText("hello before you listened");
      ws.on("text", (s) => (s === "bye" ? ws.close(4000, "asked") : ws.sendText(`echo:${s}`)));
      ws.on("binary", (b) => ws.sendBinary(Buffer.concat([Buffer.from("bin:"), b])));
    });
  });
  afterAll(() => srv.stop());

  it("echoes text and binary both ways; the server's close code and reason reach the client", async () => {
    const ws = await connectWebSocket(`${srv.url}/x`);
    const got: string[] = [];
    ws.on("text", (s) => got.push(s));
    ws.on("binary", (b) => got.push(`[${b.toString()}]`));
    ws.sendText("héllo");
    ws.sendBinary(Buffer.from("raw"));
    ws.sendText("x".repeat(1000)); // 16-bit length
    await until(() => got.length === 3, "three echoes");
    expect(got).toEqual(["echo:héllo", "[bin:raw]", `echo:${"x".repeat(1000)}`]);
    const closed = new Promise<[number, string]>((r) => ws.on("close", (c, why) => r([c, why])));
    ws.sendText("bye");
    expect(await closed).toEqual([4000, "asked"]);
    expect(ws.isOpen).toBe(false);
  });

  it("a message sent with the 101 is not lost while the client is still attaching listeners", async () => {
    const ws = await connectWebSocket(`${srv.url}/greet`);
    const got: string[] = [];
    ws.on("text", (s) => got.push(s));
    await until(() => got.length === 1, "greeting", 5_000);
    expect(got).toEqual(["hello before you listened"]);
    ws.close();
  });

  it("a message over maxMessage fails the connection with 1009, and the server keeps serving", async () => {
    const ws = await connectWebSocket(`${srv.url}/x`);
    const closed = new Promise<number>((r) => ws.on("close", (c) => r(c)));
    ws.sendBinary(new Uint8Array(2000));
    expect(await closed).toBe(CLOSE.tooBig);
    const again = await connectWebSocket(`${srv.url}/x`);
    const echoed = new Promise<string>((r) => again.on("text", r));
    again.sendText("still here");
    expect(await echoed).toBe("echo:still here");
    again.close();
  });

  it("answers ping with pong and the peer's close with the same code", async () => {
    const c = await raw(srv.port, HANDSHAKE);
    expect(c.head).toMatch(/^HTTP\/1.1 101/);
    c.sock.write(encodeFrame(OPCODE.ping, Buffer.from("hi"), { mask: MASK }));
    const [pong] = await c.frames();
    expect(pong).toMatchObject({ opcode: OPCODE.pong });
    expect(Buffer.from(pong!.payload).toString()).toBe("hi");
    c.sock.write(encodeFrame(OPCODE.close, encodeClosePayload(1000, "done"), { mask: MASK }));
    const [close] = await c.frames();
    expect(closeCode(close)).toBe(1000);
    await until(
      () => srv.closes.some(([code, why]) => code === 1000 && why === "done"),
      "server side closed with 1000 done",
    );
    c.sock.destroy();
  });

  it("fails the connection with 1002 on an unmasked client frame (no crash on the protocol error)", async () => {
    const c = await raw(srv.port, HANDSHAKE);
    c.sock.write(encodeFrame(OPCODE.text, Buffer.from("no mask")));
    const [close] = await c.frames();
    expect(closeCode(close)).toBe(CLOSE.protocol);
    c.sock.destroy();
  });

  it("refuses what is not a WebSocket handshake before writing anything (the caller answers)", async () => {
    const headOf = async (headers: Record<string, string>, method?: string) => {
      const c = await raw(srv.port, headers, method);
      c.sock.destroy();
      return c.head;
    };
    const badVersion = await headOf({ ...HANDSHAKE, "Sec-WebSocket-Version": "12" });
    expect(badVersion).toMatch(/^HTTP\/1.1 400/);
    expect(badVersion).toContain("content-type: application/json"); // the caller's rejectUpgrade, not ws's own page
    expect(await headOf({ ...HANDSHAKE, "Sec-WebSocket-Key": "short" })).toMatch(/^HTTP\/1.1 400/);
    expect(await headOf(HANDSHAKE, "POST")).toMatch(/^HTTP\/1.1 405/);
  });

  it("the client rejects a non-101 answer with its status and body", async () => {
    const other = http.createServer((_q, res) =>
      res.writeHead(403, { "content-type": "application/json" }).end('{"no":1}'),
    );
    await new Promise<void>((r) => other.listen(0, "127.0.0.1", r));
    const p = (other.address() as AddressInfo).port;
    await expect(connectWebSocket(`ws://127.0.0.1:${p}/`)).rejects.toMatchObject({ status: 403, body: '{"no":1}' });
    await expect(connectWebSocket(`ws://127.0.0.1:${p}/`)).rejects.toBeInstanceOf(UpgradeRefused);
    other.closeAllConnections();
    await new Promise((r) => other.close(r));
  });
});

describe("console WebSockets (ws package): liveness and slow peers", () => {
  it("drops a peer that stops answering pings; a client that answers stays connected", async () => {
    const srv = await wsServer({ pingMs: 100 }, () => {});
    try {
      const good = await connectWebSocket(srv.url); // ws answers pings by itself
      const mute = await raw(srv.port, HANDSHAKE); // reads pings, never answers
      await until(() => srv.closes.length === 1, "the mute peer dropped", 5_000);
      expect(srv.closes[0]![0]).toBe(1006);
      await new Promise((r) => setTimeout(r, 300));
      expect(good.isOpen).toBe(true);
      expect(srv.closes.length).toBe(1);
      good.close();
      mute.sock.destroy();
    } finally {
      await srv.stop();
    }
  });

  it("closes with 1013 once more than maxBuffered is queued for a peer that does not read", async () => {
    const srv = await wsServer({ maxBuffered: 64 * 1024 }, () => {});
    try {
      const c = await raw(srv.port, HANDSHAKE);
      c.sock.pause(); // a browser tab that stopped reading
      const ws = srv.sides[0]!;
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      let sent = 0;
      while (ws.isOpen && sent < 256 * 1024 * 1024) {
        ws.sendBinary(chunk);
        sent += chunk.length;
        await new Promise((r) => setImmediate(r)); // let the socket push what the kernel takes
      }
      expect(ws.isOpen).toBe(false);
      c.sock.resume();
      const frames = await c.frames(1);
      await until(
        async () => {
          frames.push(...(await c.frames(0)));
          return frames.some((f) => f.opcode === OPCODE.close);
        },
        "close frame after the queued data",
        20_000,
      );
      expect(closeCode(frames.find((f) => f.opcode === OPCODE.close))).toBe(CLOSE.tryAgain);
      c.sock.destroy();
    } finally {
      await srv.stop();
    }
  });
});
