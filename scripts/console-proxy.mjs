// The console WebSocket proxy used by scripts/server.mjs: checks a signed single-use ticket
// (scripts/console-ticket.mjs), then splices the browser's upgrade byte-for-byte onto the agent's
// console WebSocket. Browser frames are already masked as a client's must be and agent frames
// unmasked as a server's, so no re-framing is needed (and latency is one socket hop).
import http from "node:http";
import https from "node:https";
import { createHash } from "node:crypto";
import { hostTokenFor, NonceStore, verifyConsoleTicket } from "./console-ticket.mjs";

const CONSOLE_PATH = /^\/api\/v1\/vms\/([^/]+)\/console$/;
const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

export function rejectUpgrade(socket, status, code, message) {
  const body = JSON.stringify({ error: { code, message } });
  socket.end([`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? "Error"}`, "content-type: application/json; charset=utf-8", `content-length: ${Buffer.byteLength(body)}`, "cache-control: no-store", "connection: close", "", body].join("\r\n"));
}

/**
 * opts.getSecret(): the controller secret or null (not created yet); opts.log(level, event, ctx).
 * Returns handleUpgrade for http.Server 'upgrade' and closeAll() for shutdown.
 */
export function createConsoleProxy({ getSecret, log = () => {}, nonces = new NonceStore() }) {
  const tunnels = new Set();

  function handleUpgrade(req, socket, head) {
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
    const v = verifyConsoleTicket(secret, url.searchParams.get("ticket") ?? "", { vmId, nonces });
    if (!v.ok) {
      log("warn", "console.refused", { vmId, status: v.status, reason: v.reason, ip: socket.remoteAddress });
      return rejectUpgrade(socket, v.status, v.status === 403 ? "forbidden" : "unauthenticated", `Console ticket refused: ${v.reason}.`);
    }
    const c = v.claims;
    const target = new URL(`/v1/vms/${encodeURIComponent(vmId)}/console?write=${c.write ? 1 : 0}`, c.agentUrl);
    const mod = target.protocol === "https:" ? https : http;
    const started = Date.now();
    const up = mod.request(target, {
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
        log("info", "console.closed", { vmId, userId: c.userId, write: c.write, seconds: Math.round((Date.now() - started) / 1000) });
      };
      for (const s of pair) {
        s.on("close", done);
        s.on("error", done);
      }
      log("info", "console.opened", { vmId, userId: c.userId, hostId: c.hostId, write: c.write, ms: Date.now() - started });
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
