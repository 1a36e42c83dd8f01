// The controller's agent-facing TLS listener (docs/decisions/017-agent-tls.md): agents register,
// heart-beat and download images over HTTPS with the controller's certificate from the cluster CA,
// so host tokens never cross the network in clear text.
//
// The listener asks every client for a certificate but does not require one (registration comes
// before the agent has a certificate). When the presented certificate chains to the cluster CA,
// the request reaches the app with its SHA-256 fingerprint in CLIENT_CERT_HEADER plus the channel
// marker (lib/agent-tls.ts), which the route handlers check. Incoming copies of both headers are
// stripped on every port.
//
// Heartbeats (POST /api/agent/v1/heartbeat, every agent every few seconds) are answered through the
// app's `agentHeartbeat` hook when it is registered, past Next's request pipeline (ADR 043), and
// agents keep their connection between heartbeats: idle connections live AGENT_KEEPALIVE_MS.
import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import https from "node:https";
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { CHANNEL_HEADER, CLIENT_CERT_HEADER, normalizeFingerprint } from "../lib/agent-tls";
import {
  appHooks,
  registerServerHooks,
  serverHooks,
  type AgentHeartbeatCall,
  type ControllerPki,
} from "../lib/server-hooks";
import { noLog, type Log } from "./log";

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => unknown;

/** The per-process value that marks requests which came through this listener (read by the app through lib/server-hooks.ts). */
function channelSecret(): string {
  const known = serverHooks().agentTlsChannel;
  if (known) return known;
  const secret = randomBytes(24).toString("base64url");
  registerServerHooks({ agentTlsChannel: secret });
  return secret;
}

/** Paths the agent port serves: the agent API and the health probe. Anything else is a 404. */
export function isAgentTlsPath(rawUrl: string | undefined): boolean {
  if (typeof rawUrl !== "string" || !rawUrl.startsWith("/")) return false; // origin-form only (no absolute-form, no `*`)
  const path = rawUrl.replace(/[?#].*$/s, "");
  if (path === "/api/health") return true;
  // No dot segments, encoded dots/slashes or backslashes: nothing that could resolve outside the prefix.
  return path.startsWith("/api/agent/v1/") && !/(^|\/)\.{1,2}(\/|$)|%2e|%2f|%5c|\\|\/\//i.test(path);
}

/** Removes any copy of our trusted headers a client sent (call on every port before the app sees the request). */
export function stripAgentTlsHeaders(req: IncomingMessage): void {
  delete req.headers[CLIENT_CERT_HEADER];
  delete req.headers[CHANNEL_HEADER];
  if (Array.isArray(req.rawHeaders)) {
    const raw: string[] = [];
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
      const name = String(req.rawHeaders[i]).toLowerCase();
      if (name !== CLIENT_CERT_HEADER && name !== CHANNEL_HEADER) raw.push(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
    }
    req.rawHeaders.splice(0, req.rawHeaders.length, ...raw);
  }
}

/**
 * How long an idle agent connection stays open: longer than any heartbeat interval (5 s by default,
 * 10 s in the benchmark, plus jitter), so a keep-alive agent does one TLS handshake per connection,
 * not one per heartbeat. Node's default (5 s) is shorter than the interval: every heartbeat found
 * its connection closed. Below Node's headersTimeout (60 s), which must stay the longer one.
 */
export const AGENT_KEEPALIVE_MS = 30_000;

const HEARTBEAT_PATH = "/api/agent/v1/heartbeat";

// A connection's client certificate cannot change (renegotiation is refused: createAgentTlsServer),
// so it is read once per connection, not per request.
const fingerprints = new WeakMap<object, string | null>();

/** SHA-256 of the client certificate, lower-case hex — only if it verified against the listener's CA. */
export function verifiedClientFingerprint(socket: TLSSocket | Socket | null | undefined): string | null {
  if (socket && fingerprints.has(socket)) return fingerprints.get(socket)!;
  const fp = readClientFingerprint(socket);
  if (socket && "authorized" in socket) fingerprints.set(socket, fp);
  return fp;
}

function readClientFingerprint(socket: TLSSocket | Socket | null | undefined): string | null {
  if (
    !socket ||
    !("authorized" in socket) ||
    socket.authorized !== true ||
    typeof socket.getPeerCertificate !== "function"
  )
    return null;
  const fp = socket.getPeerCertificate()?.fingerprint256;
  return typeof fp === "string" && fp ? normalizeFingerprint(fp) : null;
}

/**
 * Wraps the app's request handler for the TLS port: only isAgentTlsPath paths, incoming trusted
 * headers stripped, the channel marker and the verified client certificate's fingerprint added.
 */
export function agentTlsRequestHandler(
  handle: RequestHandler,
  log: Log = noLog,
): (req: IncomingMessage, res: ServerResponse) => void {
  const secret = channelSecret();
  return (req, res) => {
    if (!isAgentTlsPath(req.url)) {
      res.writeHead(404, { "content-type": "application/json" }).end(
        JSON.stringify({
          error: {
            code: "not_found",
            message: "This port serves only the agent API (/api/agent/v1/*) and /api/health.",
          },
        }),
      );
      return;
    }
    const fp = verifiedClientFingerprint(req.socket);
    const hook = req.method === "POST" && isHeartbeatPath(req.url!) ? appHooks().agentHeartbeat : undefined;
    if (hook) return answerHeartbeat(hook, req, res, fp, log);
    stripAgentTlsHeaders(req);
    req.headers[CHANNEL_HEADER] = secret;
    if (fp) req.headers[CLIENT_CERT_HEADER] = fp;
    Promise.resolve()
      .then(() => handle(req, res))
      .catch((e: unknown) => failed(req, res, log, e));
  };
}

/** A request whose handler threw: logged, and a 500 if nothing was sent yet. */
function failed(req: IncomingMessage, res: ServerResponse, log: Log, e: unknown): void {
  log("error", "request.failed", {
    url: req.url,
    port: "agent-tls",
    error: e instanceof Error ? e.message : String(e),
  });
  if (!res.headersSent) res.writeHead(500).end("internal error");
}

const isHeartbeatPath = (url: string) => url === HEARTBEAT_PATH || url.startsWith(`${HEARTBEAT_PATH}?`);

/** Reads the request body once, up to maxBytes (null beyond: the rest is not read). */
function bodyReader(req: IncomingMessage): AgentHeartbeatCall["body"] {
  let read: Promise<Buffer | null> | null = null;
  return (maxBytes) =>
    (read ??= new Promise((resolve, reject) => {
      if (Number(req.headers["content-length"] ?? 0) > maxBytes) return resolve(null);
      const chunks: Buffer[] = [];
      let size = 0;
      req.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBytes) {
          req.removeAllListeners("data").pause();
          resolve(null);
        } else chunks.push(chunk);
      });
      req.on("end", () => resolve(Buffer.concat(chunks, size)));
      req.on("error", reject);
      // A client gone mid-body: settle, so the heartbeat's work does not wait forever.
      req.on("close", () => {
        if (!req.complete) reject(new Error("the request was aborted before its body arrived"));
      });
    }));
}

/** A heartbeat answered by the app's hook: the channel is this listener, the fingerprint the verified one. */
function answerHeartbeat(
  hook: NonNullable<ReturnType<typeof appHooks>["agentHeartbeat"]>,
  req: IncomingMessage,
  res: ServerResponse,
  clientCertFingerprint: string | null,
  log: Log,
): void {
  const auth = req.headers.authorization;
  hook({ authorization: typeof auth === "string" ? auth : null, clientCertFingerprint, body: bodyReader(req) })
    .then((answer) => {
      // An unread oversize body is not drained: the connection closes instead.
      const headers = answer.status === 413 ? { ...answer.headers, connection: "close" } : answer.headers;
      res.writeHead(answer.status, headers).end(answer.body);
    })
    .catch((e: unknown) => failed(req, res, log, e));
}

/** The https.Server options: our certificate (+ the CA, so a fingerprint-pinned agent finds it), client certificates asked for, not required. */
export function agentTlsServerOptions(pki: ControllerPki): https.ServerOptions {
  return {
    key: pki.controllerKeyPem,
    cert: pki.controllerCertPem.trimEnd() + "\n" + pki.caCertPem,
    ca: pki.caCertPem,
    requestCert: true,
    rejectUnauthorized: false,
    minVersion: "TLSv1.2",
  };
}

/** An https.Server for the agent API (not listening yet). */
export function createAgentTlsServer(
  pki: ControllerPki,
  handle: RequestHandler,
  log?: Log,
  keepAliveMs = AGENT_KEEPALIVE_MS,
): https.Server {
  const server = https.createServer(agentTlsServerOptions(pki), agentTlsRequestHandler(handle, log));
  server.keepAliveTimeout = keepAliveMs;
  server.on("tlsClientError", () => {}); // scanners and refused handshakes: nothing to do
  // The client certificate is fixed for the connection's life (verifiedClientFingerprint caches it).
  server.on("secureConnection", (socket: TLSSocket) => socket.disableRenegotiation());
  return server;
}
