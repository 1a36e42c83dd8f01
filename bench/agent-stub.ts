// Minimal controller stub for bench/agent.ts, on 127.0.0.1 only: register (join token -> host
// token), heartbeat (arrival times recorded), and image files streamed from local paths.
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { CONTROLLER_AGENT_PREFIX } from "../lib/schemas/agent-api";

export class BenchController {
  readonly joinToken = "bench-join-token-" + crypto.randomBytes(8).toString("hex");
  readonly hostToken = "bench-host-token-" + crypto.randomBytes(8).toString("hex");
  /** performance.now() of every heartbeat received */
  readonly heartbeats: number[] = [];
  readonly imageRequests: string[] = [];
  url = "";
  private server: http.Server | null = null;
  private waiters: Array<() => void> = [];

  /** files: "<imageId>/<kernel|initrd|disk>" -> absolute path */
  constructor(private readonly files: Map<string, string>) {}

  async start(): Promise<void> {
    const P = CONTROLLER_AGENT_PREFIX;
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const url = req.url ?? "";
        const json = (status: number, body: unknown) =>
          res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
        if (url === `${P}/register` && req.method === "POST") {
          let body: { joinToken?: string };
          try {
            body = JSON.parse(Buffer.concat(chunks).toString()) as { joinToken?: string };
          } catch {
            return void res.writeHead(400).end();
          }
          if (body.joinToken !== this.joinToken) return void res.writeHead(401).end();
          return void json(200, { hostId: "bench-host", hostToken: this.hostToken, heartbeatIntervalMs: 1000 });
        }
        if (req.headers.authorization !== `Bearer ${this.hostToken}`) return void res.writeHead(401).end();
        if (url === `${P}/heartbeat` && req.method === "POST") {
          this.heartbeats.push(performance.now());
          for (const w of this.waiters.splice(0)) w();
          return void json(200, { ok: true, heartbeatIntervalMs: 1000 });
        }
        const m = new RegExp(`^${P}/images/([^/]+)/([^/]+)$`).exec(url);
        if (m && req.method === "GET") {
          const key = `${m[1]}/${m[2]}`;
          this.imageRequests.push(key);
          const file = this.files.get(key);
          if (!file) return void res.writeHead(404).end();
          res.writeHead(200, { "content-length": fs.statSync(file).size });
          return void fs.createReadStream(file).pipe(res);
        }
        res.writeHead(404).end();
      });
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  /** Resolves once at least `n` heartbeats have arrived in total. */
  async waitForHeartbeats(n: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.heartbeats.length < n) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for heartbeat #${n} (have ${this.heartbeats.length})`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = null;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}
