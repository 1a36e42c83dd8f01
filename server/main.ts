// The production server (`npm start`, `npm run up`, the controller image): Next's request handler
// plus what route handlers cannot do — the console WebSocket upgrade
// (`GET /api/v1/vms/<id>/console|vnc?ticket=<t>`, server/console-proxy.ts) and, with
// POLYARCH_AGENT_TLS_PORT (e.g. 3443; 0 or unset = off), the agent API (/api/agent/v1/*,
// /api/health) over HTTPS with the controller's certificate from the cluster CA
// (server/agent-tls-listener.ts, docs/decisions/017-agent-tls.md).
//
// Bundled by scripts/build-server.mjs into dist/server.mjs (docs/decisions/021-typescript-server.md):
//   node dist/server.mjs [-H host] [-p port]
// What it needs from the app (secret, ticket store, agent TLS, PKI) comes through lib/server-hooks.ts.
import http from "node:http";
import type https from "node:https";
import { EventEmitter } from "node:events";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { z } from "zod";
import { appHooks, registerServerHooks } from "../lib/server-hooks";
import { createAgentTlsServer, stripAgentTlsHeaders } from "./agent-tls-listener";
import { applyClientAddress, trustedProxiesFromEnv } from "./client-address";
import { createConsoleProxy } from "./console-proxy";
import { createTimedServer, requestTimeoutsFromEnv } from "./request-timeouts";
import { errorText, log } from "./log";

process.setSourceMapsEnabled(true); // stack traces point into server/*.ts (dist/server.mjs.map)

// dist/server.mjs (and server/main.ts) sit one level below the project root (or /app in the image).
const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const portSchema = z.coerce.number().int().min(0).max(65535);

function listen(server: http.Server | https.Server, port: number, hostname: string | undefined): Promise<number> {
  return new Promise((ok, fail) => {
    server.once("error", fail);
    server.listen(port, hostname, () => {
      const addr = server.address();
      ok(typeof addr === "object" && addr ? addr.port : port);
    });
  });
}

async function main(): Promise<void> {
  const { values: argv } = parseArgs({
    options: { port: { type: "string", short: "p" }, hostname: { type: "string", short: "H" } },
  });
  const port = portSchema.parse(argv.port ?? process.env.PORT ?? 3000);
  const agentTlsPort = portSchema.parse(process.env.POLYARCH_AGENT_TLS_PORT || 0);
  // Not $HOSTNAME: shells set it to the machine name, which would silently narrow the bind address.
  const hostname = argv.hostname;
  // Whose X-Forwarded-For is believed (ADR 024); checked before Next starts so a typo stops start-up.
  const trusted = trustedProxiesFromEnv(process.env);
  // Uploads: no total limit but an idle timeout; every other request keeps a total one (ADR 027).
  const timeouts = requestTimeoutsFromEnv(process.env);
  if (!process.env.NODE_ENV) Object.assign(process.env, { NODE_ENV: "production" }); // typed read-only by Next

  // `output: "standalone"`: hand Next the config it was built with, as .next/standalone/server.js
  // does — the container image has no next.config.mjs, and `npm start` then skips a misleading warning.
  const builtConfig = join(root, ".next", "required-server-files.json");
  if (!process.env.__NEXT_PRIVATE_STANDALONE_CONFIG && existsSync(builtConfig)) {
    process.env.__NEXT_PRIVATE_STANDALONE_CONFIG = JSON.stringify(JSON.parse(readFileSync(builtConfig, "utf8")).config);
  }
  // Imported only now (external to the bundle): Next reads the variables above when it loads.
  const { default: next } = await import("next");
  // Next attaches its own 'upgrade' listener (dev HMR) to `httpServer` on the first request;
  // production needs none, so it gets a detached emitter and every upgrade stays ours.
  const app = next({
    dev: false,
    dir: root,
    hostname: hostname ?? "localhost",
    port,
    httpServer: new EventEmitter() as http.Server,
  });
  await app.prepare();
  const handle = app.getRequestHandler();
  const server = createTimedServer(timeouts, (req, res) => {
    stripAgentTlsHeaders(req); // only the TLS listener may vouch for a client certificate
    applyClientAddress(req, trusted); // only this server may say who the client is
    handle(req, res).catch((e: unknown) => {
      log("error", "request.failed", { url: req.url, error: e instanceof Error ? e.message : String(e) });
      if (!res.headersSent) res.writeHead(500).end("internal error");
    });
  });

  // The app registers its hooks when Next runs its instrumentation (lib/server/startup); until
  // then the proxy answers 503.
  const proxy = createConsoleProxy({
    getSecret: () => appHooks().controllerSecret?.() ?? null,
    log,
    spend: async (ticket, claims) => {
      const spend = appHooks().spendConsoleTicket;
      return spend ? spend(ticket, claims) : { ok: false, status: 503, reason: "ticket store not ready" };
    },
    // Open consoles end when their user or VM loses the right (ADR 029); until the app is up, none are open.
    authorise: async (consoles) => appHooks().recheckConsoles?.(consoles) ?? {},
    agentTls: async (hostId) => {
      const agentTls = appHooks().agentTlsForHost;
      if (!agentTls) throw new Error("agent TLS not ready");
      return agentTls(hostId);
    },
  });
  registerServerHooks({ consolesChanged: () => void proxy.recheck() });
  server.on("upgrade", (req: http.IncomingMessage, socket, head: Buffer) => {
    socket.on("error", () => {}); // a browser vanishing mid-handshake must not kill the console
    applyClientAddress(req, trusted);
    try {
      proxy.handleUpgrade(req, socket, head);
    } catch (e) {
      log("error", "console.upgrade_failed", { error: errorText(e) });
      socket.destroy();
    }
  });
  const boundPort = await listen(server, port, hostname);
  log("info", "server.listening", { url: `http://${hostname ?? "localhost"}:${boundPort}` });

  // The agent API over TLS. Next runs the app's start-up hook (instrumentation: PKI, and the hooks)
  // on the first request in production, not in prepare(): send one through the plain port and wait
  // for its answer; without the PKI hook the port cannot be served: fail loudly.
  let tlsServer: https.Server | null = null;
  if (agentTlsPort > 0) {
    const selfHost = !hostname || hostname === "0.0.0.0" || hostname === "::" ? "127.0.0.1" : hostname;
    await new Promise<void>((ok) => {
      const r = http.get({ host: selfHost, port: boundPort, path: "/api/health", timeout: 300_000 }, (res) =>
        res.resume().on("end", ok),
      );
      r.on("error", () => ok()).on("timeout", () => r.destroy());
    });
    const controllerPki = appHooks().controllerPki;
    if (!controllerPki)
      throw new Error("POLYARCH_AGENT_TLS_PORT is set but the controller PKI is not available (start-up hook missing)");
    const handleWithAddress = (req: http.IncomingMessage, res: http.ServerResponse) => {
      applyClientAddress(req, trusted);
      return handle(req, res);
    };
    tlsServer = createAgentTlsServer(await controllerPki(), handleWithAddress, log);
    const tlsPort = await listen(tlsServer, agentTlsPort, hostname);
    log("info", "server.agent_tls_listening", {
      url: `https://${hostname ?? "localhost"}:${tlsPort}`,
      serves: ["/api/agent/v1/*", "/api/health"],
    });
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
  process.on("SIGTERM", () => void stop());
  process.on("SIGINT", () => void stop());
}

main().catch((e: unknown) => {
  console.error(`[server] ${errorText(e)}`);
  process.exit(1);
});
