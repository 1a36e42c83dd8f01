// The JSON API of a controller without Next, for tests that run controllers as plain processes
// (lib/server/testing/controller-process.ts): a few routes as app/api/v1 writes them — the real apiRoute
// wrapper (authentication, permissions, the error mapping) around the real domain calls — behind a
// node:http server on 127.0.0.1 and a free port. (The route files themselves import lib/server/web's index,
// whose server-action wrapper needs Next's React; apiRoute is imported from its own file instead.)
import http from "node:http";
import { vmListQuery, hostListQuery } from "../../schemas/entities";
import { createVmSchema } from "../../schemas/vms";
import { parseQuery, readJson, toJsonSafe } from "../platform";
import { listHosts } from "../hosts";
import { createVm, listVms } from "../vms";
import { apiRoute } from "../web/api-route";
import { GET as health } from "../../../app/api/health/route";

type Handler = (req: Request, route: { params: Promise<Record<string, string>> }) => Promise<Response>;

const ROUTES: Record<string, Handler> = {
  // as app/api/v1/vms/route.ts and app/api/v1/hosts/route.ts
  "GET /api/v1/vms": apiRoute({ permission: "read", action: "vm.list" }, ({ req, actor }) =>
    listVms(parseQuery(req, vmListQuery), actor),
  ),
  "POST /api/v1/vms": apiRoute({ permission: "vm:create", action: "vm.create", targetType: "vm" }, async (c) => {
    const input = await readJson(c.req, createVmSchema);
    return Response.json(toJsonSafe(await createVm(input, { actor: c.actor, clientIp: c.clientIp })), { status: 202 });
  }),
  "GET /api/v1/hosts": apiRoute({ permission: "read", action: "host.list" }, ({ req }) =>
    listHosts(parseQuery(req, hostListQuery)),
  ),
  "GET /api/health": health,
};

async function answer(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): Promise<void> {
  const url = new URL(req.url ?? "/", "http://127.0.0.1");
  const handler = ROUTES[`${req.method} ${url.pathname}`];
  if (!handler) {
    res
      .writeHead(404, { "content-type": "application/json" })
      .end('{"error":{"code":"not_found","message":"no route"}}');
    return;
  }
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers.set(k, v);
  const request = new Request(url, {
    method: req.method,
    headers,
    body: req.method === "GET" || req.method === "HEAD" ? undefined : new Uint8Array(body),
  });
  const response = await handler(request, { params: Promise.resolve({}) });
  res.writeHead(response.status, Object.fromEntries(response.headers.entries()));
  res.end(Buffer.from(await response.arrayBuffer()));
}

export async function serveApi(): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      // As server/main.ts does: a handler that throws (none should; apiRoute maps errors) is a bare 500.
      answer(req, res, Buffer.concat(chunks)).catch(() => {
        if (!res.headersSent) res.writeHead(500).end("internal error");
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (!address || typeof address !== "object") throw new Error("no address");
  return {
    url: `http://127.0.0.1:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
