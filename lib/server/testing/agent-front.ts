// The controller's agent endpoints for tests that run a real agent without Next: register and
// heartbeat go to the real route handlers; any image's kernel is served from the bytes given, and
// other image files ("<imageId>/<file>", e.g. an ISO's "disk") from `files` when a test passes them.
import http from "node:http";
import { POST as registerRoute } from "../../../app/api/agent/v1/register/route";
import { POST as heartbeatRoute } from "../../../app/api/agent/v1/heartbeat/route";
import { listenOnLoopback, serveStubImage, stopServer } from "../../../agent/src/testing/support";

const KERNEL_PATH = /^\/api\/agent\/v1\/images\/[^/]+\/kernel$/;

export type AgentFront = { url: string; heartbeats: number[]; stop(): Promise<void> };

export async function startAgentFront(kernel: Buffer, files?: Map<string, Buffer>): Promise<AgentFront> {
  const heartbeats: number[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      void (async () => {
        const url = req.url ?? "";
        if (req.method === "GET" && KERNEL_PATH.test(url))
          return void res.writeHead(200, { "content-length": kernel.length }).end(kernel);
        if (files && serveStubImage(req, res, url, files, [])) return;
        const handler =
          req.method === "POST" && url === "/api/agent/v1/register"
            ? registerRoute
            : req.method === "POST" && url === "/api/agent/v1/heartbeat"
              ? heartbeatRoute
              : null;
        if (!handler) return void res.writeHead(404).end();
        const headers = new Headers();
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers.set(k, v);
        const r = await handler(
          new Request(`http://127.0.0.1${url}`, { method: "POST", headers, body: Buffer.concat(chunks) }),
        );
        if (handler === heartbeatRoute) heartbeats.push(r.status);
        res.writeHead(r.status, Object.fromEntries(r.headers)).end(Buffer.from(await r.arrayBuffer()));
      })().catch((e: unknown) => res.writeHead(500).end(String(e)));
    });
  });
  return { url: await listenOnLoopback(server), heartbeats, stop: () => stopServer(server) };
}
