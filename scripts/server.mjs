// Production server (`npm start`): Next's request handler plus the one thing route handlers cannot
// do, a WebSocket upgrade: `GET /api/v1/vms/<id>/console|vnc?ticket=<t>` goes to the console proxy
// (scripts/console-proxy.mjs). Usage: node scripts/server.mjs [-H host] [-p port]
// With POLYARCH_AGENT_TLS_PORT (e.g. 3443; 0 or unset = off) it also serves the agent API
// (/api/agent/v1/*, /api/health) over HTTPS with the controller's certificate from the cluster CA
// (scripts/agent-tls-listener.mjs, docs/decisions/017-agent-tls.md): production agents use that port.
import http from "node:http";
import { EventEmitter } from "node:events";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";
import { createAgentTlsServer, stripAgentTlsHeaders } from "./agent-tls-listener.mjs";
import { createConsoleProxy } from "./console-proxy.mjs";
import { readControllerSecret } from "./console-ticket.mjs";

const root = resolve(new URL("..", import.meta.url).pathname);
const { values: argv } = parseArgs({ options: { port: { type: "string", short: "p" }, hostname: { type: "string", short: "H" } } });
const port = z.coerce.number().int().min(0).max(65535).parse(argv.port ?? process.env.PORT ?? 3000);
const agentTlsPort = z.coerce.number().int().min(0).max(65535).parse(process.env.POLYARCH_AGENT_TLS_PORT || 0);
// Not $HOSTNAME: shells set it to the machine name, which would silently narrow the bind address.
const hostname = argv.hostname;
process.env.NODE_ENV ??= "production";

let secret = null;
// The app creates data/auth-secret on its first start, so look it up lazily (then keep it).
const getSecret = () => (secret ??= readControllerSecret(process.env));

function log(level, event, ctx = {}) {
  console.log(JSON.stringify({ time: new Date().toISOString(), level, event, ...ctx }));
}

async function main() {
  // `output: "standalone"`: hand Next the config it was built with, as .next/standalone/server.js
  // does — the container image has no next.config.mjs, and `npm start` then skips a misleading warning.
  const builtConfig = join(root, ".next", "required-server-files.json");
  if (!process.env.__NEXT_PRIVATE_STANDALONE_CONFIG && existsSync(builtConfig)) {
    process.env.__NEXT_PRIVATE_STANDALONE_CONFIG = JSON.stringify(JSON.parse(readFileSync(builtConfig, "utf8")).config);
  }
  const { default: next } = await import("next");
  // Next attaches its own 'upgrade' listener (dev HMR) to `httpServer` on the first request;
  // production needs none, so it gets a detached emitter and every upgrade stays ours.
  const app = next({ dev: false, dir: root, hostname: hostname ?? "localhost", port, httpServer: new EventEmitter() });
  await app.prepare();
  const handle = app.getRequestHandler();
  const server = http.createServer((req, res) => {
    stripAgentTlsHeaders(req); // only the TLS listener may vouch for a client certificate
    handle(req, res).catch((e) => {
      log("error", "request.failed", { url: req.url, error: e instanceof Error ? e.message : String(e) });
      if (!res.headersSent) res.writeHead(500).end("internal error");
    });
  });
  // Tickets are spent in the database through lib/server/console-tickets.ts, which the app's
  // instrumentation hook registered in this process during prepare() (no Prisma client here).
  const STORE = Symbol.for("polyarch.consoleTicketStore");
  const spend = async (ticket, claims) => {
    const store = globalThis[STORE];
    if (!store) return { ok: false, status: 503, reason: "ticket store not ready" };
    return store.spend(ticket, claims);
  };
  // Agents' mutual TLS settings per host, from lib/server/agent-client.ts (registered by the same hook).
  const agentTls = async (hostId) => {
    const fn = globalThis[Symbol.for("polyarch.agentTls")];
    if (!fn) throw new Error("agent TLS not ready");
    return fn(hostId);
  };
  const proxy = createConsoleProxy({ getSecret, log, spend, agentTls });
  server.on("upgrade", (req, socket, head) => {
    socket.on("error", () => {}); // a browser vanishing mid-handshake must not kill the console
    try {
      proxy.handleUpgrade(req, socket, head);
    } catch (e) {
      log("error", "console.upgrade_failed", { error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
      socket.destroy();
    }
  });
  await new Promise((ok, fail) => {
    server.once("error", fail);
    server.listen(port, hostname, ok);
  });
  const addr = server.address();
  log("info", "server.listening", { url: `http://${hostname ?? "localhost"}:${typeof addr === "object" && addr ? addr.port : port}` });

  // The agent API over TLS. Next runs the app's start-up hook (instrumentation: PKI, and the
  // accessor below) on the first request in production, not in prepare(): send one through the
  // plain port and wait for its answer; without the accessor the port cannot be served: fail loudly.
  let tlsServer = null;
  if (agentTlsPort > 0) {
    const selfHost = !hostname || hostname === "0.0.0.0" || hostname === "::" ? "127.0.0.1" : hostname;
    await new Promise((ok) => {
      const r = http.get({ host: selfHost, port: typeof addr === "object" && addr ? addr.port : port, path: "/api/health", timeout: 300_000 }, (res) => res.resume().on("end", ok));
      r.on("error", ok).on("timeout", () => r.destroy());
    });
    const pkiHook = globalThis[Symbol.for("polyarch.controllerPki")];
    if (!pkiHook) throw new Error("POLYARCH_AGENT_TLS_PORT is set but the controller PKI is not available (start-up hook missing)");
    tlsServer = createAgentTlsServer(await pkiHook(), handle, log);
    await new Promise((ok, fail) => {
      tlsServer.once("error", fail);
      tlsServer.listen(agentTlsPort, hostname, ok);
    });
    const tlsAddr = tlsServer.address();
    log("info", "server.agent_tls_listening", { url: `https://${hostname ?? "localhost"}:${typeof tlsAddr === "object" && tlsAddr ? tlsAddr.port : agentTlsPort}`, serves: ["/api/agent/v1/*", "/api/health"] });
  }

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    proxy.closeAll();
    for (const s of [server, tlsServer]) {
      if (!s) continue;
      s.close();
      s.closeIdleConnections();
      setTimeout(() => s.closeAllConnections(), 3_000).unref();
    }
    await app.close().catch(() => {});
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((e) => {
  console.error(`[server] ${e instanceof Error ? (e.stack ?? e.message) : e}`);
  process.exit(1);
});
