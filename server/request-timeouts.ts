// How long a client may take to send its request (ADR 027). Node's requestTimeout (default 300 s)
// cuts any request whose body has not fully arrived by then: a 64 GiB image upload needs hours. So
// the server runs with requestTimeout 0 and this module applies the limits itself:
//   - image uploads (POST /api/v1/images) have no total limit; they are aborted when no byte
//     arrives for `uploadIdleMs` while the body is being received (the socket's idle timer);
//   - every other request must be received within `requestMs`, as Node's requestTimeout did;
//   - headersTimeout stays Node's (slowloris: headers must arrive within `headersMs`);
//   - an idle keep-alive connection is kept KEEP_ALIVE_MS, longer than clients keep theirs (below).
// An aborted upload is cleaned up by the upload code (the body stream errors: row and files removed).
import http from "node:http";
import type { Socket } from "node:net";
import { z } from "zod";

export interface RequestTimeouts {
  /** receiving a request other than an upload, headers included (Node's requestTimeout) */
  requestMs: number;
  /** an upload without a single body byte for this long is aborted */
  uploadIdleMs: number;
  /** receiving the headers of any request (Node's headersTimeout) */
  headersMs: number;
  /** how often Node checks headersTimeout (its connectionsCheckingInterval); tests lower it */
  checkEveryMs?: number;
}

const seconds = (fallback: number) => z.coerce.number().min(1).default(fallback);
const envSchema = z.object({
  POLYARCH_REQUEST_TIMEOUT_S: seconds(300),
  POLYARCH_UPLOAD_IDLE_TIMEOUT_S: seconds(120),
});

/** The timeouts from the environment (the same variables lib/server/platform/env.ts validates). */
export function requestTimeoutsFromEnv(env: NodeJS.ProcessEnv): RequestTimeouts {
  const e = envSchema.parse(env);
  const requestMs = e.POLYARCH_REQUEST_TIMEOUT_S * 1000;
  return { requestMs, uploadIdleMs: e.POLYARCH_UPLOAD_IDLE_TIMEOUT_S * 1000, headersMs: Math.min(60_000, requestMs) };
}

/** The one request whose body may take hours: a streamed image upload. */
export function isUploadRequest(req: http.IncomingMessage): boolean {
  return req.method === "POST" && (req.url ?? "").split("?", 1)[0]!.replace(/\/+$/, "") === "/api/v1/images";
}

/**
 * How long an idle keep-alive connection stays open. Node's default is 5 s, the same as the idle time
 * of Node's own client agents: a client that reuses its socket just as the server closes it gets
 * ECONNRESET (seen in CI from Playwright's request context). Longer than the clients' and the usual
 * proxies' upstream idle time (nginx 60 s), so the client closes first.
 */
export const KEEP_ALIVE_MS = 65_000;

/** An http.Server with Node's total request timeout off and `guardRequest` on every request. */
export function createTimedServer(t: RequestTimeouts, handler: http.RequestListener): http.Server {
  const server = http.createServer(
    {
      requestTimeout: 0,
      headersTimeout: t.headersMs,
      ...(t.checkEveryMs ? { connectionsCheckingInterval: t.checkEveryMs } : {}),
    },
    (req, res) => {
      guardRequest(req, res, t);
      handler(req, res);
    },
  );
  server.keepAliveTimeout = KEEP_ALIVE_MS;
  return server;
}

/** Applies the upload idle timeout or the total request timeout to one request. */
export function guardRequest(req: http.IncomingMessage, res: http.ServerResponse, t: RequestTimeouts): void {
  const socket: Socket = req.socket;
  if (isUploadRequest(req)) {
    // The socket's idle timer counts bytes in both directions; while the body arrives the server
    // sends nothing, so it measures the client. Off once the body has been read: validating a big
    // image may take minutes without traffic. Node emits 'timeout' on the request only while its
    // body is incomplete; the connection is then destroyed, which fails the body stream.
    socket.setTimeout(t.uploadIdleMs);
    req.once("timeout", () => socket.destroy());
    req.once("end", () => socket.setTimeout(0));
    return;
  }
  const timer = setTimeout(() => {
    if (req.complete) return;
    // As Node's requestTimeout: 408 when nothing was answered yet, then close the connection.
    if (!res.headersSent)
      res.writeHead(408, { connection: "close", "content-type": "text/plain" }).end("request timeout");
    socket.destroy();
  }, t.requestMs);
  timer.unref();
  const done = () => clearTimeout(timer);
  req.once("end", done);
  res.once("close", done);
}
