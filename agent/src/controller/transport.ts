// JSON POSTs to the controller over kept-alive connections (node:http / node:https), for registration
// and heartbeats. The global fetch (undici, WHATWG streams) cost more CPU per heartbeat than
// everything else the agent does idle, and over https `controllerFetch` made a new TLS handshake
// (and parsed the PEMs again) for every call. Here one secure context serves every connection until
// the trust or our certificate changes, and the connection is reused while the controller keeps it
// open (it says for how long in `Keep-Alive: timeout=N`; Node's agent closes it a second earlier).
import http from "node:http";
import https from "node:https";
import tls from "node:tls";
import { checkControllerServer } from "./tls";

/** What an https connection to the controller trusts and presents; ca null = the system store. */
export interface TransportTls {
  ca: string | null;
  cert?: string;
  key?: string;
}

export interface TransportResponse {
  status: number;
  text: string;
}

/** An answer larger than this is cut off with an error: a heartbeat answer is a few hundred bytes. */
export const MAX_ANSWER_BYTES = 8 * 1024 * 1024;
/** An idle connection is dropped by us after this long at the latest (the controller may say sooner). */
const IDLE_SOCKET_MS = 120_000;

const RETRY_ON_REUSED = new Set(["ECONNRESET", "EPIPE"]);

export class ControllerTransport {
  private agent: http.Agent | null = null;
  private agentKey = "";
  private readonly url: URL;
  private readonly base: string;

  /** getTls: current trust + client certificate (https only; read on every call, cheap when unchanged). */
  constructor(
    baseUrl: string,
    private readonly getTls: (() => TransportTls) | null = null,
  ) {
    this.url = new URL(baseUrl);
    this.base = baseUrl.replace(/\/+$/, "");
  }

  /** Connections currently open (tests: the heartbeat reuses one). */
  openSockets(): number {
    const a = this.agent;
    if (!a) return 0;
    const count = (m: NodeJS.ReadOnlyDict<unknown[]>) => Object.values(m).reduce((n, l) => n + (l?.length ?? 0), 0);
    return count(a.sockets) + count(a.freeSockets);
  }

  /** Drops every connection (agent stop, tests). */
  close(): void {
    this.agent?.destroy();
    this.agent = null;
    this.agentKey = "";
  }

  private currentAgent(): http.Agent {
    if (this.url.protocol !== "https:") {
      this.agent ??= new http.Agent({ keepAlive: true, maxSockets: 2, timeout: IDLE_SOCKET_MS });
      return this.agent;
    }
    const t = this.getTls?.() ?? { ca: null };
    const key = `${t.ca ?? ""}\0${t.cert ?? ""}\0${t.key ?? ""}`;
    if (this.agent && key === this.agentKey) return this.agent;
    // New trust or a new certificate: connections made with the old ones must not be reused.
    this.agent?.destroy();
    this.agentKey = key;
    const secureContext = tls.createSecureContext({
      minVersion: "TLSv1.2",
      ...(t.ca ? { ca: t.ca } : {}),
      ...(t.cert && t.key ? { cert: t.cert, key: t.key } : {}),
    });
    this.agent = new https.Agent({
      keepAlive: true,
      maxSockets: 2,
      timeout: IDLE_SOCKET_MS,
      secureContext,
      minVersion: "TLSv1.2",
      // Our cluster CA also signs host certificates: only the controller's may answer (ADR 025).
      ...(t.ca ? { checkServerIdentity: checkControllerServer } : {}),
    });
    return this.agent;
  }

  /**
   * POSTs `body` (already JSON) to `pathName` under the base URL. A connection the controller
   * closed while idle (reset on reuse) is retried once on a new one.
   */
  async postJson(
    pathName: string,
    body: string,
    headers: Record<string, string>,
    timeoutMs: number,
  ): Promise<TransportResponse> {
    try {
      return await this.once(pathName, body, headers, timeoutMs);
    } catch (e) {
      if (!(e instanceof ReusedSocketError)) throw e;
      return this.once(pathName, body, headers, timeoutMs);
    }
  }

  private once(pathName: string, body: string, headers: Record<string, string>, timeoutMs: number) {
    const target = new URL(this.base + pathName);
    const mod = target.protocol === "https:" ? https : http;
    const payload = Buffer.from(body);
    return new Promise<TransportResponse>((resolve, reject) => {
      const req = mod.request(target, {
        method: "POST",
        agent: this.currentAgent(),
        headers: { ...headers, "content-type": "application/json", "content-length": String(payload.length) },
      });
      const timer = setTimeout(
        () => req.destroy(new Error(`controller did not answer within ${timeoutMs} ms`)),
        timeoutMs,
      );
      req.on("response", (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          size += c.length;
          if (size > MAX_ANSWER_BYTES)
            req.destroy(new Error(`controller answer larger than ${MAX_ANSWER_BYTES} bytes`));
          else chunks.push(c);
        });
        res.on("end", () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 502, text: Buffer.concat(chunks).toString("utf8") });
        });
        res.on("error", (e) => {
          clearTimeout(timer);
          reject(new TypeError("fetch failed", { cause: e }));
        });
      });
      req.on("error", (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        if (req.reusedSocket && e.code && RETRY_ON_REUSED.has(e.code)) reject(new ReusedSocketError(e));
        else reject(new TypeError("fetch failed", { cause: e }));
      });
      req.end(payload);
    });
  }
}

/** The controller closed a kept-alive connection just as we reused it: nothing was processed. */
class ReusedSocketError extends Error {
  constructor(readonly cause: Error) {
    super(cause.message);
  }
}
