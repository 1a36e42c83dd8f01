// The console proxy against a stand-in agent (the `ws` package), tickets spent in memory (the
// database store is tested with two proxies in lib/server/consoles/tickets.int.test.ts).
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import http from "node:http";
import { createHash } from "node:crypto";
import type { AddressInfo, Socket } from "node:net";
import { WebSocket, WebSocketServer } from "ws";
import { signConsoleTicket, type ConsoleTicketInput, type SpendResult } from "../lib/console-ticket";
import { deriveHostToken } from "../lib/host-token";
import type { OpenConsoleGrant } from "../lib/server-hooks";
import { CONSOLE_REVOKED_CLOSE_CODE as REVOKED_CLOSE_CODE } from "../lib/console-close";
import { createConsoleProxy, type ConsoleProxyOptions } from "./console-proxy";

const SECRET = "proxy-test-secret-0123456789abcdef0123";

type Seen = { url: string; authorization: string | undefined };

/**
 * A stand-in agent: echoes every message; /v1/vms/gone/* answers 404, /v1/vms/liar/* a wrong
 * Sec-WebSocket-Accept; /v1/vms/halves/* sends a "ready" frame and, in the same write, the first half
 * of a binary frame "HALF-AND-REST" whose rest `halves.rest()` sends.
 */
function startAgent() {
  const seen: Seen[] = [];
  const halves = { socket: null as Socket | null, rest: () => halves.socket?.write("-AND-REST") };
  const wss = new WebSocketServer({ noServer: true });
  const server = http.createServer((_q, res) => res.writeHead(404).end());
  server.on("upgrade", (req, socket, head) => {
    seen.push({ url: req.url ?? "", authorization: req.headers.authorization });
    if (req.url?.startsWith("/v1/vms/gone/"))
      return socket.end("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    if (req.url?.startsWith("/v1/vms/liar/"))
      return socket.end(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: bm9wZQ==\r\n\r\n",
      );
    if (req.url?.startsWith("/v1/vms/halves/")) {
      const accept = createHash("sha1")
        .update(`${req.headers["sec-websocket-key"]}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
        .digest("base64");
      halves.socket = socket as Socket;
      socket.on("error", () => {});
      return socket.write(
        Buffer.concat([
          Buffer.from(
            `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
          ),
          Buffer.from([0x81, 5]),
          Buffer.from("ready"),
          Buffer.from([0x82, 13]),
          Buffer.from("HALF"),
        ]),
      );
    }
    wss.handleUpgrade(req, socket, head, (ws) =>
      ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary })),
    );
  });
  return { server, wss, seen, halves };
}

describe("console proxy", () => {
  const agent = startAgent();
  let agentUrl = "";
  const servers: http.Server[] = [];
  const clients: WebSocket[] = [];

  beforeAll(async () => {
    await new Promise<void>((r) => agent.server.listen(0, "127.0.0.1", r));
    agentUrl = `http://127.0.0.1:${(agent.server.address() as AddressInfo).port}`;
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.terminate();
    for (const s of servers.splice(0)) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
    agent.seen.length = 0;
    agent.halves.socket?.destroy();
  });
  afterAll(async () => {
    for (const c of agent.wss.clients) c.terminate();
    agent.wss.close();
    agent.server.closeAllConnections();
    await new Promise((r) => agent.server.close(r));
  });

  async function proxy(opts: Partial<ConsoleProxyOptions> = {}) {
    const p = createConsoleProxy({ getSecret: () => SECRET, ...opts });
    const server = http.createServer((_q, res) => res.writeHead(404).end());
    server.on("upgrade", (req, socket, head) => p.handleUpgrade(req, socket, head));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    servers.push(server);
    return { proxy: p, base: `ws://127.0.0.1:${(server.address() as AddressInfo).port}` };
  }

  const ticket = (over: Partial<ConsoleTicketInput> = {}) =>
    signConsoleTicket(SECRET, { vmId: "vm-1", userId: "u-1", write: true, agentUrl, hostId: "h-1", gen: 2, ...over })
      .ticket;

  /** the open WebSocket, or the HTTP status and error code the proxy refused the upgrade with */
  function connect(url: string): Promise<WebSocket | { status: number; code: string }> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      clients.push(ws);
      ws.once("open", () => resolve(ws));
      ws.once("unexpected-response", (_req, res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, code: body ? JSON.parse(body).error.code : "" }));
      });
      ws.on("error", reject);
    });
  }

  const echo = (ws: WebSocket, data: Buffer) =>
    new Promise<Buffer>((resolve) => {
      ws.once("message", (d) => resolve(d as Buffer));
      ws.send(data);
    });

  it("splices an upgrade with a valid ticket onto the agent, with the host token; the ticket opens one console once", async () => {
    const { proxy: p, base } = await proxy();
    const t = ticket();
    const ws = await connect(`${base}/api/v1/vms/vm-1/console?ticket=${encodeURIComponent(t)}`);
    expect(ws).toBeInstanceOf(WebSocket);
    const payload = Buffer.from([0, 1, 2, 250, 255]);
    expect(await echo(ws as WebSocket, payload)).toEqual(payload);
    expect(agent.seen).toEqual([
      { url: "/v1/vms/vm-1/console?write=1", authorization: `Bearer ${deriveHostToken(SECRET, "h-1", 2)}` },
    ]);
    expect(p.open).toBe(1);
    expect(await connect(`${base}/api/v1/vms/vm-1/console?ticket=${encodeURIComponent(t)}`)).toEqual({
      status: 401,
      code: "unauthenticated",
    });
    p.closeAll();
    await new Promise<void>((r) => (ws as WebSocket).once("close", () => r()));
    expect(p.open).toBe(0);
  });

  it("opens read-only tickets with ?write=0 and VNC tickets on the agent's vnc endpoint only", async () => {
    const { base } = await proxy();
    expect(
      await connect(`${base}/api/v1/vms/vm-1/console?ticket=${encodeURIComponent(ticket({ write: false }))}`),
    ).toBeInstanceOf(WebSocket);
    const vnc = ticket({ kind: "vnc" });
    expect(await connect(`${base}/api/v1/vms/vm-1/console?ticket=${encodeURIComponent(vnc)}`)).toEqual({
      status: 403,
      code: "forbidden",
    });
    expect(await connect(`${base}/api/v1/vms/vm-1/vnc?ticket=${encodeURIComponent(vnc)}`)).toBeInstanceOf(WebSocket);
    expect(agent.seen.map((s) => s.url)).toEqual(["/v1/vms/vm-1/console?write=0", "/v1/vms/vm-1/vnc?write=1"]);
  });

  it("refuses before the agent: other paths, forged or foreign tickets, no secret yet, a store that says no", async () => {
    const { base } = await proxy();
    expect(await connect(`${base}/api/v1/vms/vm-1/shell?ticket=x`)).toEqual({ status: 404, code: "not_found" });
    expect(await connect(`${base}/api/v1/vms/vm-1/console?ticket=forged`)).toEqual({
      status: 401,
      code: "unauthenticated",
    });
    expect(await connect(`${base}/api/v1/vms/vm-2/console?ticket=${encodeURIComponent(ticket())}`)).toEqual({
      status: 403,
      code: "forbidden",
    });
    const other = signConsoleTicket("another-secret-0123456789abcdef0123", {
      vmId: "vm-1",
      userId: "u-1",
      write: true,
      agentUrl,
      hostId: "h-1",
      gen: 2,
    }).ticket;
    expect(await connect(`${base}/api/v1/vms/vm-1/console?ticket=${encodeURIComponent(other)}`)).toEqual({
      status: 401,
      code: "unauthenticated",
    });

    const early = await proxy({ getSecret: () => null });
    expect(await connect(`${early.base}/api/v1/vms/vm-1/console?ticket=${encodeURIComponent(ticket())}`)).toEqual({
      status: 503,
      code: "unavailable",
    });

    const spent: string[] = [];
    for (const answer of [
      { ok: false, status: 503, reason: "ticket store not ready" },
      { ok: false, status: 401, reason: "ticket already used" },
    ] as SpendResult[]) {
      const withStore = await proxy({ spend: async (t) => (spent.push(t), answer) });
      const code = answer.ok ? "" : answer.status === 503 ? "unavailable" : "unauthenticated";
      expect(await connect(`${withStore.base}/api/v1/vms/vm-1/console?ticket=${encodeURIComponent(ticket())}`)).toEqual(
        { status: answer.ok ? 101 : answer.status, code },
      );
    }
    expect(spent).toHaveLength(2); // only signed tickets for this VM reach the store
    expect(agent.seen).toEqual([]);
  });

  const closed = (ws: WebSocket) =>
    new Promise<{ code: number; reason: string }>((resolve) =>
      ws.once("close", (code, reason) => resolve({ code, reason: reason.toString("utf8") })),
    );

  it("re-checks all open consoles in one batch and ends the revoked one with 4403 and the reason; the others stay open", async () => {
    const calls: (readonly OpenConsoleGrant[])[] = [];
    const revoked: Record<string, string> = {};
    const { proxy: p, base } = await proxy({
      authorise: async (grants) => (calls.push(grants), { ...revoked }),
      recheckEveryMs: 50,
    });
    const [a, b] = [0, 1].map(() =>
      signConsoleTicket(SECRET, { vmId: "vm-1", userId: "u-1", write: true, agentUrl, hostId: "h-1", gen: 2 }),
    );
    const wa = new WebSocket(`${base}/api/v1/vms/vm-1/console?ticket=${encodeURIComponent(a!.ticket)}`, {
      headers: { cookie: "better-auth.session_token=tok.sig" },
    });
    clients.push(wa);
    await new Promise((r) => wa.once("open", r));
    const wb = (await connect(`${base}/api/v1/vms/vm-1/console?ticket=${encodeURIComponent(b!.ticket)}`)) as WebSocket;
    await expect.poll(() => calls.at(-1)?.length ?? 0, { timeout: 5_000 }).toBe(2);
    expect(calls.every((grants) => grants.length <= 2)).toBe(true);
    expect(
      [...calls.at(-1)!].sort((x, y) => (x.key === a!.claims.nonce ? -1 : y.key === a!.claims.nonce ? 1 : 0)),
    ).toEqual([
      {
        key: a!.claims.nonce,
        userId: "u-1",
        vmId: "vm-1",
        kind: "serial",
        write: true,
        cookie: "better-auth.session_token=tok.sig",
      },
      { key: b!.claims.nonce, userId: "u-1", vmId: "vm-1", kind: "serial", write: true, cookie: null },
    ]);

    const aClosed = closed(wa);
    revoked[a!.claims.nonce] = "access revoked: your account was disabled";
    expect(await aClosed).toEqual({ code: REVOKED_CLOSE_CODE, reason: "access revoked: your account was disabled" });
    const payload = Buffer.from("still here");
    expect(await echo(wb, payload)).toEqual(payload);
    expect(p.open).toBe(1);
    await expect.poll(() => calls.at(-1)?.length, { timeout: 5_000 }).toBe(1); // the closed one is no longer asked about

    const bClosed = closed(wb);
    revoked[b!.claims.nonce] = "access revoked: the VM was deleted";
    expect(await bClosed).toEqual({ code: REVOKED_CLOSE_CODE, reason: "access revoked: the VM was deleted" });
    expect(p.open).toBe(0);
  });

  it("a console revoked in the middle of an agent frame gets the rest of that frame first, then the close frame", async () => {
    const revoked: Record<string, string> = {};
    const { proxy: p, base } = await proxy({ authorise: async () => revoked, recheckEveryMs: 60_000 });
    const t = signConsoleTicket(SECRET, {
      vmId: "halves",
      userId: "u-1",
      write: true,
      agentUrl,
      hostId: "h-1",
      gen: 2,
    });
    const ws = new WebSocket(`${base}/api/v1/vms/halves/console?ticket=${encodeURIComponent(t.ticket)}`);
    clients.push(ws);
    const messages: string[] = [];
    const ready = new Promise((r) => ws.once("message", r));
    ws.on("message", (d) => messages.push(String(d)));
    const end = closed(ws);
    await ready; // the proxy has the "ready" frame and, from the same write, half of the next one
    revoked[t.claims.nonce] = "access revoked: test";
    await p.recheck();
    agent.halves.rest();
    expect(await end).toEqual({ code: REVOKED_CLOSE_CODE, reason: "access revoked: test" });
    expect(messages).toEqual(["ready", "HALF-AND-REST"]);
  });

  it("refuses what is not a WebSocket 13 handshake", async () => {
    const { base } = await proxy();
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(
        `${base.replace("ws:", "http:")}/api/v1/vms/vm-1/console?ticket=${encodeURIComponent(ticket())}`,
        {
          headers: {
            connection: "Upgrade",
            upgrade: "websocket",
            "sec-websocket-version": "8",
            "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
          },
        },
      );
      req.on("response", (res) => resolve(res.statusCode ?? 0));
      req.on("upgrade", () => reject(new Error("upgraded")));
      req.on("error", reject);
      req.end();
    });
    expect(status).toBe(400);
  });

  it("passes the agent's refusals on: VM unknown there (404), a wrong handshake answer (502), https without TLS settings (502)", async () => {
    const { base } = await proxy();
    expect(
      await connect(`${base}/api/v1/vms/gone/console?ticket=${encodeURIComponent(ticket({ vmId: "gone" }))}`),
    ).toEqual({ status: 404, code: "not_found" });
    expect(
      await connect(`${base}/api/v1/vms/liar/console?ticket=${encodeURIComponent(ticket({ vmId: "liar" }))}`),
    ).toEqual({ status: 502, code: "unavailable" });
    const https = ticket({ agentUrl: agentUrl.replace("http:", "https:") });
    expect(await connect(`${base}/api/v1/vms/vm-1/console?ticket=${encodeURIComponent(https)}`)).toEqual({
      status: 502,
      code: "unavailable",
    });
    const failing = await proxy({
      agentTls: async () => Promise.reject(new Error("The host of this VM has no valid certificate")),
    });
    expect(
      await connect(
        `${failing.base}/api/v1/vms/vm-1/console?ticket=${encodeURIComponent(ticket({ agentUrl: agentUrl.replace("http:", "https:") }))}`,
      ),
    ).toEqual({ status: 502, code: "unavailable" });
  });
});
