// The console WebSocket proxy used by scripts/server.mjs: checks a signed ticket
// (scripts/console-ticket.mjs), spends it once (the database store, shared by every controller),
// then splices the browser's upgrade byte-for-byte onto the agent's serial console or VNC
// WebSocket. Browser frames are already masked as a client's must be and agent frames unmasked
// as a server's, so no re-framing is needed (and latency is one socket hop). Read-only tickets
// open the agent endpoint with ?write=0: the agent drops a viewer's serial input and filters its
// RFB stream (agent/src/vnc-filter.ts), so input never depends on the browser behaving.
import http from "node:http";
import https from "node:https";
import { createHash } from "node:crypto";
import { hostTokenFor, NonceStore, verifyConsoleTicket } from "./console-ticket.mjs";

const CONSOLE_PATH = /^\/api\/v1\/vms\/([^/]+)\/(console|vnc)$/;
/** proxy path suffix → ticket kind → agent path suffix */
const KIND_OF = { console: "serial", vnc: "vnc" };
const AGENT_PATH = { serial: "console", vnc: "vnc" };
const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

export function rejectUpgrade(socket, status, code, message) {
  const body = JSON.stringify({ error: { code, message } });
  socket.end([`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? "Error"}`, "content-type: application/json; charset=utf-8", `content-length: ${Buffer.byteLength(body)}`, "cache-control: no-store", "connection: close", "", body].join("\r\n"));
}

/**
 * opts.getSecret(): the controller secret or null (not created yet); opts.log(level, event, ctx).
 * opts.spend(ticket, claims) → Promise<{ok: true} | {ok: false, status, reason}>: spends a ticket
 * once (the database store in production); without it, `nonces` (one process's memory) does.
 * Returns handleUpgrade for http.Server 'upgrade' and closeAll() for shutdown.
 */
export function createConsoleProxy({ getSecret, log = () => {}, spend = null, nonces = new NonceStore(), agentTls = null }) {
  const tunnels = new Set();

  function handleUpgrade(req, socket, head) {
    handle(req, socket, head).catch((e) => {
      log("error", "console.upgrade_failed", { error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
      if (!socket.destroyed) rejectUpgrade(socket, 500, "internal", "console proxy error");
    });
  }

  async function handle(req, socket, head) {
    const url = new URL(req.url ?? "/", "http://localhost");
    const m = CONSOLE_PATH.exec(url.pathname);
    if (!m) return rejectUpgrade(socket, 404, "not_found", "no WebSocket endpoint here");
    let vmId;
    try {
      vmId = decodeURIComponent(m[1]);
    } catch {
      return rejectUpgrade(socket, 400, "invalid", "bad VM id");
    }
    const key = req.headers["sec-websocket-key"];
    if (req.method !== "GET" || (req.headers.upgrade ?? "").toLowerCase() !== "websocket" || req.headers["sec-websocket-version"] !== "13" || typeof key !== "string" || Buffer.from(key, "base64").length !== 16) {
      return rejectUpgrade(socket, 400, "invalid", "not a WebSocket 13 handshake");
    }
    const secret = getSecret();
    if (!secret) return rejectUpgrade(socket, 503, "unavailable", "controller secret not available yet");
    const kind = KIND_OF[m[2]];
    const ticket = url.searchParams.get("ticket") ?? "";
    let v = verifyConsoleTicket(secret, ticket, { vmId, kind, nonces: spend ? undefined : nonces });
    if (v.ok && spend) {
      // Only a correctly signed, unexpired ticket for this VM reaches the database.
      const s = await spend(ticket, v.claims);
      if (!s.ok) v = { ok: false, status: s.status ?? 401, reason: s.reason };
    }
    if (!v.ok) {
      log("warn", "console.refused", { vmId, kind, status: v.status, reason: v.reason, ip: socket.remoteAddress });
      const code = v.status === 403 ? "forbidden" : v.status === 503 ? "unavailable" : "unauthenticated";
      return rejectUpgrade(socket, v.status, code, `Console ticket refused: ${v.reason}.`);
    }
    if (socket.destroyed) return;
    const c = v.claims;
    const target = new URL(`/v1/vms/${encodeURIComponent(vmId)}/${AGENT_PATH[c.kind]}?write=${c.write ? 1 : 0}`, c.agentUrl);
    const mod = target.protocol === "https:" ? https : http;
    // Agents serve mutual TLS (docs/decisions/017-agent-tls.md): opts.agentTls(hostId) gives the CA,
    // the host's pinned certificate and the controller's client certificate.
    let tlsOpts = {};
    if (target.protocol === "https:") {
      try {
        if (!agentTls) throw new Error("no agent TLS configuration in this process");
        tlsOpts = { ...(await agentTls(c.hostId)), agent: false };
      } catch (e) {
        return rejectUpgrade(socket, 502, "unavailable", `The agent of this VM's host cannot be reached securely (${e instanceof Error ? e.message : e}).`);
      }
      if (socket.destroyed) return;
    }
    const started = Date.now();
    const up = mod.request(target, {
      ...tlsOpts,
      headers: {
        authorization: `Bearer ${hostTokenFor(secret, c.hostId, c.gen)}`,
        connection: "Upgrade",
        upgrade: "websocket",
        "sec-websocket-version": "13",
        // the browser's own key: the agent's Sec-WebSocket-Accept then answers the browser directly
        "sec-websocket-key": key,
      },
      timeout: 10_000,
    });
    let settled = false;
    const fail = (status, code, message) => {
      if (settled) return;
      settled = true;
      log("warn", "console.agent_failed", { vmId, hostId: c.hostId, status, message });
      rejectUpgrade(socket, status, code, message);
    };
    socket.on("close", () => { if (!settled) up.destroy(); });
    up.on("timeout", () => up.destroy(new Error("timeout")));
    up.on("error", (e) => fail(502, "unavailable", `The agent of this VM's host is not reachable (${e.message}).`));
    up.on("response", (res) => {
      res.resume();
      if (res.statusCode === 404) return fail(404, "not_found", "The VM is not on its host's agent (not created yet, or deleted).");
      if (res.statusCode === 409) return fail(409, "conflict", "This VM has no graphical display; use the serial console.");
      fail(502, "unavailable", `The agent refused the console (HTTP ${res.statusCode}).`);
    });
    up.on("upgrade", (res, agentSocket, agentHead) => {
      const accept = createHash("sha1").update(key + GUID).digest("base64");
      if (settled || socket.destroyed || res.headers["sec-websocket-accept"] !== accept) {
        agentSocket.destroy();
        return fail(502, "unavailable", "The agent answered the console handshake wrongly.");
      }
      settled = true;
      socket.write(["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade", `Sec-WebSocket-Accept: ${accept}`, "", ""].join("\r\n"));
      for (const s of [socket, agentSocket]) {
        s.setNoDelay?.(true); // keystroke latency over throughput
        s.setTimeout?.(0);
      }
      if (agentHead.length) socket.write(agentHead);
      if (head.length) agentSocket.write(head);
      socket.pipe(agentSocket);
      agentSocket.pipe(socket);
      const pair = [socket, agentSocket];
      tunnels.add(pair);
      const done = () => {
        if (!tunnels.delete(pair)) return;
        socket.destroy();
        agentSocket.destroy();
        log("info", "console.closed", { vmId, kind: c.kind, userId: c.userId, write: c.write, seconds: Math.round((Date.now() - started) / 1000) });
      };
      for (const s of pair) {
        s.on("close", done);
        s.on("error", done);
      }
      log("info", "console.opened", { vmId, kind: c.kind, userId: c.userId, hostId: c.hostId, write: c.write, ms: Date.now() - started });
    });
    up.end();
  }

  return {
    handleUpgrade,
    closeAll() {
      for (const pair of tunnels) for (const s of pair) s.destroy();
    },
    get open() {
      return tunnels.size;
    },
  };
}
