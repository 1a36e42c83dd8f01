import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createTimedServer, KEEP_ALIVE_MS } from "./request-timeouts";

const timeouts = { requestMs: 30_000, uploadIdleMs: 30_000, headersMs: 30_000 };
let server: http.Server | undefined;
afterEach(async () => {
  await new Promise((r) => server?.close(r) ?? r(undefined));
  server = undefined;
});

describe("idle keep-alive connections", () => {
  it("outlive the idle time of Node's own client agent, so the client closes first", () => {
    server = createTimedServer(timeouts, (_req, res) => res.end("ok"));
    const clientIdleMs = (http.globalAgent as http.Agent & { options: { timeout?: number } }).options.timeout ?? 0;
    expect(clientIdleMs, "Node's global agent keeps idle sockets for a while").toBeGreaterThan(0);
    expect(server.keepAliveTimeout).toBe(KEEP_ALIVE_MS);
    expect(KEEP_ALIVE_MS).toBeGreaterThan(clientIdleMs);
  });

  it("a connection idle for longer than Node's default (5 s) still carries the next request", async () => {
    server = createTimedServer(timeouts, (_req, res) => res.end("ok"));
    await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
    const { port } = server.address() as AddressInfo;
    // One socket for both requests; Node's own agent would drop it after 5 s idle, so a long-lived one.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1, timeout: 60_000 });
    const get = () =>
      new Promise<{ body: string; socket: unknown }>((resolve, reject) => {
        const req = http.get({ host: "127.0.0.1", port, path: "/", agent }, (res) => {
          let body = "";
          res.on("data", (c: Buffer) => (body += c.toString()));
          res.on("end", () => resolve({ body, socket: req.socket }));
        });
        req.on("error", reject);
      });
    try {
      const first = await get();
      await new Promise((r) => setTimeout(r, 5_500));
      const second = await get();
      expect(second.body).toBe("ok");
      expect(second.socket, "the same connection, not a new one").toBe(first.socket);
    } finally {
      agent.destroy();
    }
  }, 15_000);
});
