// Production server (`npm start`): Next's request handler plus the one thing route handlers cannot
// do, a WebSocket upgrade: `GET /api/v1/vms/<id>/console|vnc?ticket=<t>` goes to the console proxy
// (scripts/console-proxy.mjs). Usage: node scripts/server.mjs [-H host] [-p port]
import http from "node:http";
import { EventEmitter } from "node:events";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";
import { createConsoleProxy } from "./console-proxy.mjs";
import { readControllerSecret } from "./console-ticket.mjs";

const root = resolve(new URL("..", import.meta.url).pathname);
const { values: argv } = parseArgs({ options: { port: { type: "string", short: "p" }, hostname: { type: "string", short: "H" } } });
const port = z.coerce.number().int().min(0).max(65535).parse(argv.port ?? process.env.PORT ?? 3000);
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

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    proxy.closeAll();
    server.close();
    server.closeIdleConnections();
    setTimeout(() => server.closeAllConnections(), 3_000).unref();
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
