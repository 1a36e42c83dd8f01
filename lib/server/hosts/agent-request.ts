import "server-only";
// One HTTP(S) request to an agent over node:http(s) (fetch cannot take a CA, a client certificate and
// a pin), with a hard timeout, an abort signal, a size cap and streamed chunks. A request that met a
// pooled connection the agent had just closed is sent once more (agent-pool.ts).
import http from "node:http";
import https from "node:https";
import { isStaleSocketError } from "./agent-pool";

export class TimeoutError extends Error {
  name = "TimeoutError";
}

export type RawResponse = { status: number; text: string; contentType: string };

/** One request over node:http(s) (fetch cannot take a CA, a client certificate and a pin). */
export function agentRequest(
  url: URL,
  init: {
    method: string;
    headers: Record<string, string>;
    body?: string;
    timeoutMs: number;
    tls?: https.RequestOptions;
    /** a kept-alive pool (agent-pool.ts) instead of one connection per request with `tls` */
    agent?: https.Agent;
    onData?: (chunk: Buffer) => void;
    /** aborting destroys the request with the signal's reason */
    signal?: AbortSignal;
  },
): Promise<RawResponse> {
  return requestOnce(url, init).catch((error: unknown) => {
    if (!(error instanceof StaleSocketError)) throw error;
    return requestOnce(url, init).catch((again: unknown) => {
      throw again instanceof StaleSocketError ? again.cause : again;
    });
  });
}

/** A pooled connection the agent had closed: nothing reached it, the request may go again. */
class StaleSocketError extends Error {
  constructor(readonly cause: unknown) {
    super("stale kept-alive connection");
  }
}

function requestOnce(url: URL, init: Parameters<typeof agentRequest>[1]): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const mod = url.protocol === "https:" ? https : http;
    const tlsOptions = url.protocol === "https:" && !init.agent ? init.tls : {};
    let answered = false;
    const req = mod.request(
      url,
      { method: init.method, headers: init.headers, agent: init.agent ?? false, ...tlsOptions },
      (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          size += c.length;
          if (size > 64 * 1024 * 1024) req.destroy(new Error("agent answer too large"));
          else chunks.push(c);
          init.onData?.(c);
        });
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            text: Buffer.concat(chunks).toString("utf8"),
            contentType: String(res.headers["content-type"] ?? ""),
          }),
        );
        res.on("error", reject);
      },
    );
    const timer = setTimeout(() => req.destroy(new TimeoutError("timeout")), init.timeoutMs);
    const onAbort = () => req.destroy(init.signal!.reason as Error);
    init.signal?.addEventListener("abort", onAbort, { once: true });
    req.on("close", () => {
      clearTimeout(timer);
      init.signal?.removeEventListener("abort", onAbort);
    });
    req.on("error", (error) =>
      reject(!answered && isStaleSocketError(error, req.reusedSocket) ? new StaleSocketError(error) : error),
    );
    req.end(init.body);
  });
}
