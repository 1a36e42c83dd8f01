// The controller's agent routes behind a plain node:http(s) request handler, and a raw request
// client with full control over its TLS side: for tests of the agent TLS port
// (lib/server/hosts/controller-tls.int.test.ts, hostile-agent.int.test.ts).
import http from "node:http";
import https from "node:https";
import { POST as registerRoute } from "../../../app/api/agent/v1/register/route";
import { POST as heartbeatRoute } from "../../../app/api/agent/v1/heartbeat/route";
import { GET as imageFileRoute } from "../../../app/api/agent/v1/images/[id]/[file]/route";
import { GET as healthRoute } from "../../../app/api/health/route";

/** The app's request handler as server/main.ts gets it from Next, reduced to the routes agents use. */
export function routeHandler(seen: Array<{ path: string; status: number }>) {
  return (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    return new Promise<void>((resolve, reject) => {
      req.on("error", reject);
      req.on("end", () => {
        (async () => {
          const url = new URL(req.url ?? "/", "http://controller.invalid");
          const headers = new Headers();
          for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers.set(k, v);
          const request = new Request(url, {
            method: req.method,
            headers,
            body: req.method === "GET" || req.method === "HEAD" ? undefined : Buffer.concat(chunks),
          });
          const m = /^\/api\/agent\/v1\/images\/([^/]+)\/([^/]+)$/.exec(url.pathname);
          let response: Response;
          if (url.pathname === "/api/agent/v1/register") response = await registerRoute(request);
          else if (url.pathname === "/api/agent/v1/heartbeat") response = await heartbeatRoute(request);
          else if (m) response = await imageFileRoute(request, { params: Promise.resolve({ id: m[1]!, file: m[2]! }) });
          else if (url.pathname === "/api/health") response = await healthRoute();
          // Anything else is "the console": must never be reached over TLS.
          else response = Response.json({ error: { code: "not_found", message: "app page" } }, { status: 200 });
          seen.push({ path: url.pathname, status: response.status });
          res.writeHead(response.status, Object.fromEntries(response.headers));
          res.end(Buffer.from(await response.arrayBuffer()));
        })().then(resolve, reject);
      });
    });
  };
}

export type Raw = { status: number; body: string };

/** One request with full control over the TLS client side (certificate or none, CA, extra headers). */
export function rawRequest(
  url: string,
  o: {
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    ca?: string;
    cert?: string;
    key?: string;
  } = {},
): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const mod = u.protocol === "https:" ? https : http;
    const req = mod.request(
      u,
      {
        method: o.method ?? "GET",
        headers: o.headers,
        agent: false,
        ...(u.protocol === "https:" ? { ca: o.ca, cert: o.cert, key: o.key } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error("request timed out")));
    req.on("error", reject);
    req.end(o.body);
  });
}
