// The console WebSocket proxy of the custom server (server/main.ts): checks a signed ticket
// (lib/console-ticket.ts), spends it once (the database store, shared by every controller), then
// splices the browser's upgrade byte-for-byte onto the agent's serial console or VNC WebSocket.
//
// No WebSocket library here on purpose: after the handshake the proxy never reads a frame. Browser
// frames are already masked as a client's must be and agent frames unmasked as a server's, so no
// re-framing is needed (and latency is one socket hop). The handshake itself is the agent's: the
// browser's Sec-WebSocket-Key goes to the agent, whose Sec-WebSocket-Accept is checked here and
// answers the browser directly. Read-only tickets open the agent endpoint with ?write=0: the agent
// drops a viewer's serial input and filters its RFB stream (agent/src/console/vnc-filter.ts), so
// input never depends on the browser behaving.
//
// An open console lives only as long as its authorisation (ADR 029): every `recheckEveryMs` the
// proxy asks `authorise` about all its open consoles at once (one database round, whichever
// controller the change was made on) and ends each revoked one with a close frame (code
// CONSOLE_REVOKED_CLOSE_CODE, the reason) sent at an agent frame boundary (ws-frames.ts).
import http from "node:http";
import https from "node:https";
import { createHash } from "node:crypto";
import type { Duplex } from "node:stream";
import type { Socket } from "node:net";
import { deriveHostToken } from "../lib/host-token";
import { NonceStore, verifyConsoleTicket, type VerifyResult } from "../lib/console-ticket";
import type { ConsoleKind } from "../lib/schemas/console";
import { CONSOLE_REVOKED_CLOSE_CODE } from "../lib/console-close";
import type { AppHooks, OpenConsoleGrant } from "../lib/server-hooks";
import { errorText, noLog, type Log } from "./log";
import { closeFrame, FrameBoundary } from "./ws-frames";

const CONSOLE_PATH = /^\/api\/v1\/vms\/([^/]+)\/(console|vnc)$/;
/** proxy path suffix → ticket kind */
const KIND_OF: Record<string, ConsoleKind> = { console: "serial", vnc: "vnc" };
/** ticket kind → agent path suffix */
const AGENT_PATH: Record<ConsoleKind, string> = { serial: "console", vnc: "vnc" };
/** RFC 6455 §1.3 */
const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
export const RECHECK_EVERY_MS = 2_000;
/** How long a revoked console waits for the agent to finish the frame it is in before it is cut. */
const FRAME_END_WAIT_MS = 1_000;

type Refusal = { ok: false; status: number; reason: string };

export function rejectUpgrade(socket: Duplex, status: number, code: string, message: string): void {
  const body = JSON.stringify({ error: { code, message } });
  socket.end(
    [
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? "Error"}`,
      "content-type: application/json; charset=utf-8",
      `content-length: ${Buffer.byteLength(body)}`,
      "cache-control: no-store",
      "connection: close",
      "",
      body,
    ].join("\r\n"),
  );
}

export interface ConsoleProxyOptions {
  /** the controller secret, or null while the app has not started */
  getSecret: () => string | null;
  log?: Log;
  /** spends a verified ticket once (the database store); without it `nonces` does, in this process's memory */
  spend?: AppHooks["spendConsoleTicket"] | null;
  nonces?: NonceStore;
  /** https agents: CA, pinned certificate check and client certificate for one host (docs/decisions/017-agent-tls.md) */
  agentTls?: AppHooks["agentTlsForHost"] | null;
  /** re-checks the open consoles in one batch: key → why, for each one no longer allowed (none: never re-checked) */
  authorise?: AppHooks["recheckConsoles"] | null;
  recheckEveryMs?: number;
}

export interface ConsoleProxy {
  /** for http.Server 'upgrade' */
  handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void;
  /** shutdown: drops every open console */
  closeAll(): void;
  /** re-checks the open consoles now (the periodic check runs anyway) */
  recheck(): Promise<void>;
  readonly open: number;
}

type Tunnel = { grant: OpenConsoleGrant; sockets: [Duplex, Duplex]; revoke(reason: string): void };

export function createConsoleProxy({
  getSecret,
  log = noLog,
  spend = null,
  nonces = new NonceStore(),
  agentTls = null,
  authorise = null,
  recheckEveryMs = RECHECK_EVERY_MS,
}: ConsoleProxyOptions): ConsoleProxy {
  const tunnels = new Map<string, Tunnel>();
  let timer: ReturnType<typeof setInterval> | null = null;
  let checking: Promise<void> | null = null;

  /** Runs while consoles are open; unref'd so it never keeps a stopping server alive. */
  function watch(): void {
    if (!authorise) return;
    if (tunnels.size > 0 && !timer) timer = setInterval(() => void recheck(), recheckEveryMs).unref();
    if (tunnels.size === 0 && timer) {
      clearInterval(timer);
      timer = null;
    }
  }

  function recheck(): Promise<void> {
    if (!authorise || tunnels.size === 0) return Promise.resolve();
    // one round at a time: a slow database must not pile up queries
    checking ??= (async () => {
      try {
        const revoked = await authorise([...tunnels.values()].map((t) => t.grant));
        for (const [key, reason] of Object.entries(revoked)) tunnels.get(key)?.revoke(reason);
      } catch (e) {
        // Fail open for this round (a database blip must not drop every console); the next round re-checks.
        log("warn", "console.recheck_failed", { open: tunnels.size, error: errorText(e) });
      } finally {
        checking = null;
      }
    })();
    return checking;
  }

  function handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    handle(req, socket, head).catch((e: unknown) => {
      log("error", "console.upgrade_failed", { error: errorText(e) });
      if (!socket.destroyed) rejectUpgrade(socket, 500, "internal", "console proxy error");
    });
  }

  async function handle(req: http.IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? "/", "http://localhost");
    const m = CONSOLE_PATH.exec(url.pathname);
    if (!m) return rejectUpgrade(socket, 404, "not_found", "no WebSocket endpoint here");
    let vmId: string;
    try {
      vmId = decodeURIComponent(m[1]!);
    } catch {
      return rejectUpgrade(socket, 400, "invalid", "bad VM id");
    }
    const key = req.headers["sec-websocket-key"];
    if (
      req.method !== "GET" ||
      (req.headers.upgrade ?? "").toLowerCase() !== "websocket" ||
      req.headers["sec-websocket-version"] !== "13" ||
      typeof key !== "string" ||
      Buffer.from(key, "base64").length !== 16
    ) {
      return rejectUpgrade(socket, 400, "invalid", "not a WebSocket 13 handshake");
    }
    const secret = getSecret();
    if (!secret) return rejectUpgrade(socket, 503, "unavailable", "controller secret not available yet");
    const kind = KIND_OF[m[2]!]!;
    const ticket = url.searchParams.get("ticket") ?? "";
    let v: VerifyResult | Refusal = verifyConsoleTicket(secret, ticket, {
      vmId,
      kind,
      nonces: spend ? undefined : nonces,
    });
    if (v.ok && spend) {
      // Only a correctly signed, unexpired ticket for this VM reaches the database.
      const s = await spend(ticket, v.claims);
      if (!s.ok) v = { ok: false, status: s.status, reason: s.reason };
    }
    if (!v.ok) {
      log("warn", "console.refused", {
        vmId,
        kind,
        status: v.status,
        reason: v.reason,
        ip: (socket as Socket).remoteAddress,
      });
      const code = v.status === 403 ? "forbidden" : v.status === 503 ? "unavailable" : "unauthenticated";
      return rejectUpgrade(socket, v.status, code, `Console ticket refused: ${v.reason}.`);
    }
    if (socket.destroyed) return;
    const c = v.claims;
    const target = new URL(
      `/v1/vms/${encodeURIComponent(vmId)}/${AGENT_PATH[c.kind]}?write=${c.write ? 1 : 0}`,
      c.agentUrl,
    );
    // Agents serve mutual TLS (docs/decisions/017-agent-tls.md): agentTls(hostId) gives the CA, the
    // host's pinned certificate and the controller's client certificate.
    let tlsOpts: https.RequestOptions = {};
    if (target.protocol === "https:") {
      try {
        if (!agentTls) throw new Error("no agent TLS configuration in this process");
        tlsOpts = { ...(await agentTls(c.hostId)), agent: false };
      } catch (e) {
        return rejectUpgrade(
          socket,
          502,
          "unavailable",
          `The agent of this VM's host cannot be reached securely (${e instanceof Error ? e.message : String(e)}).`,
        );
      }
      if (socket.destroyed) return;
    }
    const started = Date.now();
    const request = target.protocol === "https:" ? https.request : http.request;
    const up = request(target, {
      ...tlsOpts,
      headers: {
        authorization: `Bearer ${deriveHostToken(secret, c.hostId, c.gen)}`,
        connection: "Upgrade",
        upgrade: "websocket",
        "sec-websocket-version": "13",
        // the browser's own key: the agent's Sec-WebSocket-Accept then answers the browser directly
        "sec-websocket-key": key,
      },
      timeout: 10_000,
    });
    let settled = false;
    const fail = (status: number, code: string, message: string) => {
      if (settled) return;
      settled = true;
      log("warn", "console.agent_failed", { vmId, hostId: c.hostId, status, message });
      rejectUpgrade(socket, status, code, message);
    };
    socket.on("close", () => {
      if (!settled) up.destroy();
    });
    up.on("timeout", () => up.destroy(new Error("timeout")));
    up.on("error", (e) => fail(502, "unavailable", `The agent of this VM's host is not reachable (${e.message}).`));
    up.on("response", (res) => {
      res.resume();
      if (res.statusCode === 404)
        return fail(404, "not_found", "The VM is not on its host's agent (not created yet, or deleted).");
      if (res.statusCode === 409)
        return fail(409, "conflict", "This VM has no graphical display; use the serial console.");
      fail(502, "unavailable", `The agent refused the console (HTTP ${res.statusCode}).`);
    });
    up.on("upgrade", (res, agentSocket: Socket, agentHead: Buffer) => {
      const accept = createHash("sha1")
        .update(key + GUID)
        .digest("base64");
      if (settled || socket.destroyed || res.headers["sec-websocket-accept"] !== accept) {
        agentSocket.destroy();
        return fail(502, "unavailable", "The agent answered the console handshake wrongly.");
      }
      settled = true;
      socket.write(
        [
          "HTTP/1.1 101 Switching Protocols",
          "Upgrade: websocket",
          "Connection: Upgrade",
          `Sec-WebSocket-Accept: ${accept}`,
          "",
          "",
        ].join("\r\n"),
      );
      for (const s of [socket as Socket, agentSocket]) {
        s.setNoDelay?.(true); // keystroke latency over throughput
        s.setTimeout?.(0);
      }
      // Browser → agent: a plain pipe. Agent → browser: the same, by hand, so the frame boundary
      // is known when a revoked console must be ended with a close frame of our own.
      const frames = new FrameBoundary();
      let revokedFor: string | null = null;
      const forward = (chunk: Buffer) => {
        if (revokedFor === null) {
          frames.feed(chunk);
          if (!socket.write(chunk)) agentSocket.pause();
          return;
        }
        const n = frames.feed(chunk, true); // the rest of the frame under way, nothing after it
        if (n > 0) socket.write(chunk.subarray(0, n));
        if (frames.atBoundary) endRevoked();
      };
      socket.on("drain", () => agentSocket.resume());
      if (agentHead.length) forward(agentHead);
      if (head.length) agentSocket.write(head);
      socket.pipe(agentSocket);
      agentSocket.on("data", forward);
      agentSocket.on("end", () => revokedFor === null && socket.end());
      const pair: [Duplex, Duplex] = [socket, agentSocket];
      let ended = false;
      const endRevoked = () => {
        if (ended) return;
        ended = true;
        agentSocket.destroy();
        socket.end(closeFrame(CONSOLE_REVOKED_CLOSE_CODE, revokedFor ?? ""));
        // the browser answers the close frame and hangs up; one that does not is cut
        setTimeout(() => socket.destroy(), 2_000).unref();
      };
      const grant: OpenConsoleGrant = {
        key: c.nonce,
        userId: c.userId,
        vmId,
        kind: c.kind,
        write: c.write,
        cookie: typeof req.headers.cookie === "string" ? req.headers.cookie : null,
      };
      const revoke = (reason: string) => {
        if (revokedFor !== null || !tunnels.has(grant.key)) return;
        revokedFor = reason;
        socket.unpipe(agentSocket); // no more input reaches the VM from now on
        socket.resume(); // …and the browser's answer to our close frame is read and dropped
        log("info", "console.revoked", { vmId, kind: c.kind, userId: c.userId, write: c.write, reason });
        if (frames.atBoundary) return endRevoked();
        agentSocket.resume();
        setTimeout(() => {
          if (!frames.atBoundary) pair.forEach((s) => s.destroy());
        }, FRAME_END_WAIT_MS).unref();
      };
      tunnels.set(grant.key, { grant, sockets: pair, revoke });
      watch();
      const done = () => {
        if (tunnels.get(grant.key)?.sockets !== pair) return;
        tunnels.delete(grant.key);
        watch();
        if (revokedFor === null) socket.destroy();
        agentSocket.destroy();
        log("info", "console.closed", {
          vmId,
          kind: c.kind,
          userId: c.userId,
          write: c.write,
          seconds: Math.round((Date.now() - started) / 1000),
          ...(revokedFor !== null && { revoked: revokedFor }),
        });
      };
      for (const s of pair) {
        s.on("close", done);
        s.on("error", done);
      }
      log("info", "console.opened", {
        vmId,
        kind: c.kind,
        userId: c.userId,
        hostId: c.hostId,
        write: c.write,
        ms: Date.now() - started,
      });
    });
    up.end();
  }

  return {
    handleUpgrade,
    closeAll() {
      for (const t of tunnels.values()) for (const s of t.sockets) s.destroy();
    },
    recheck,
    get open() {
      return tunnels.size;
    },
  };
}
