// The agent TLS listener's request wrapper and the channel marker it hands the app through
// lib/server-hooks.ts (lib/agent-tls.ts reads it). With real certificates, a real agent and the
// real route handlers: lib/server/hosts/controller-tls.int.test.ts.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { agentTlsChannel, CHANNEL_HEADER, CLIENT_CERT_HEADER } from "../lib/agent-tls";
import { registerAppHooks, serverHooks, type AgentHeartbeatCall, type AppHooks } from "../lib/server-hooks";
import {
  AGENT_KEEPALIVE_MS,
  agentTlsRequestHandler,
  createAgentTlsServer,
  isAgentTlsPath,
  stripAgentTlsHeaders,
} from "./agent-tls-listener";

describe("agent TLS listener", () => {
  it("serves only the agent API paths", () => {
    for (const ok of [
      "/api/health",
      "/api/agent/v1/register",
      "/api/agent/v1/heartbeat?x=1",
      "/api/agent/v1/images/i-1/disk",
    ])
      expect(isAgentTlsPath(ok), ok).toBe(true);
    for (const no of [
      "/",
      "/api/v1/hosts",
      "/api/agent/v1",
      "/api/agent/v1/../x",
      "/api/agent/v1/%2E%2E/x",
      "/api/agent/v1/a%2fb",
      "/api/agent/v1/a\\b",
      "/api/agent/v1//x",
      "http://h/api/agent/v1/register",
      "*",
      "/api/health/x",
      undefined,
    ]) {
      expect(isAgentTlsPath(no), String(no)).toBe(false);
    }
  });

  it("strips client copies of the trusted headers, parsed and raw", () => {
    const req = {
      headers: { [CLIENT_CERT_HEADER]: "f".repeat(64), [CHANNEL_HEADER]: "guess", host: "x" },
      rawHeaders: [
        "Host",
        "x",
        "X-Polyarch-Client-Cert-Fingerprint",
        "f".repeat(64),
        "x-polyarch-agent-channel",
        "guess",
      ],
    } as unknown as http.IncomingMessage;
    stripAgentTlsHeaders(req);
    expect(req.headers).toEqual({ host: "x" });
    expect(req.rawHeaders).toEqual(["Host", "x"]);
  });

  describe("in front of a handler", () => {
    const seen: Array<{ url: string; channel: ReturnType<typeof agentTlsChannel> }> = [];
    let server: http.Server;
    let base = "";
    beforeAll(async () => {
      // Plain HTTP here: the socket carries no verified certificate, so no fingerprint is passed on.
      server = http.createServer(
        agentTlsRequestHandler((req, res) => {
          const headers = new Headers();
          for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers.set(k, v);
          seen.push({ url: req.url ?? "", channel: agentTlsChannel(headers) });
          res.writeHead(200).end("app");
        }),
      );
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    });

    it("marks requests as from this listener (the app can tell), replaces forged headers, 404s the rest of the app", async () => {
      const res = await fetch(`${base}/api/agent/v1/heartbeat`, {
        headers: { [CLIENT_CERT_HEADER]: "0".repeat(64), [CHANNEL_HEADER]: "forged" },
      });
      expect(res.status).toBe(200);
      expect(seen).toEqual([{ url: "/api/agent/v1/heartbeat", channel: { tls: true, clientCertFingerprint: null } }]);
      const page = await fetch(`${base}/api/v1/hosts`);
      expect(page.status).toBe(404);
      expect(await page.text()).toContain("only the agent API");
      expect(seen).toHaveLength(1);
    });

    it("the app trusts the headers only with this process's channel value", () => {
      const secret = serverHooks().agentTlsChannel!;
      expect(secret).toMatch(/^[A-Za-z0-9_-]{32}$/);
      const fp = "a".repeat(64);
      expect(agentTlsChannel(new Headers({ [CHANNEL_HEADER]: secret, [CLIENT_CERT_HEADER]: fp }))).toEqual({
        tls: true,
        clientCertFingerprint: fp,
      });
      expect(agentTlsChannel(new Headers({ [CHANNEL_HEADER]: secret, [CLIENT_CERT_HEADER]: "not-hex" }))).toEqual({
        tls: true,
        clientCertFingerprint: null,
      });
      for (const forged of ["", "forged", secret.slice(1) + "x", secret.slice(1) + "\u00e9"]) {
        expect(agentTlsChannel(new Headers({ [CHANNEL_HEADER]: forged, [CLIENT_CERT_HEADER]: fp })), forged).toEqual({
          tls: false,
          clientCertFingerprint: null,
        });
      }
    });
  });

  describe("heartbeat fast path and keep-alive", () => {
    const appSaw: string[] = [];
    const hookSaw: Array<{ authorization: string | null; fingerprint: string | null; body: string | null }> = [];
    let server: http.Server;
    let base = "";
    beforeAll(async () => {
      server = http.createServer(
        agentTlsRequestHandler((req, res) => {
          appSaw.push(`${req.method} ${req.url}`);
          res.writeHead(200).end("app");
        }),
      );
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterEach(() => registerAppHooks({} as AppHooks));
    afterAll(async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    });

    const hook = async (call: AgentHeartbeatCall) => {
      const body = await call.body(64);
      hookSaw.push({
        authorization: call.authorization,
        fingerprint: call.clientCertFingerprint,
        body: body?.toString() ?? null,
      });
      return body
        ? { status: 200, headers: { "content-type": "application/json", "x-from": "hook" }, body: '{"ok":true}' }
        : { status: 413, headers: { "content-type": "application/json" }, body: '{"error":{"code":"too_large"}}' };
    };

    it("POST heartbeats go to the app's hook (headers, body, no forged fingerprint); everything else to the app", async () => {
      registerAppHooks({ agentHeartbeat: hook } as unknown as AppHooks);
      const res = await fetch(`${base}/api/agent/v1/heartbeat?x=1`, {
        method: "POST",
        headers: { authorization: "Bearer t-1", [CLIENT_CERT_HEADER]: "0".repeat(64) },
        body: '{"usage":1}',
      });
      expect([res.status, res.headers.get("x-from"), await res.text()]).toEqual([200, "hook", '{"ok":true}']);
      expect(hookSaw).toEqual([{ authorization: "Bearer t-1", fingerprint: null, body: '{"usage":1}' }]);
      await fetch(`${base}/api/agent/v1/heartbeat`);
      await fetch(`${base}/api/agent/v1/register`, { method: "POST", body: "{}" });
      expect(appSaw).toEqual(["GET /api/agent/v1/heartbeat", "POST /api/agent/v1/register"]);
      // Too large: refused without reading the rest, and the connection is not kept.
      const big = await fetch(`${base}/api/agent/v1/heartbeat`, { method: "POST", body: "x".repeat(1000) });
      expect([big.status, big.headers.get("connection")]).toEqual([413, "close"]);
      // Before the app has registered the hook, Next's route handler answers.
      registerAppHooks({} as AppHooks);
      await fetch(`${base}/api/agent/v1/heartbeat`, { method: "POST", body: "{}" });
      expect(appSaw.at(-1)).toBe("POST /api/agent/v1/heartbeat");
      expect(hookSaw).toHaveLength(2);
    });

    it("keeps an idle agent connection longer than a heartbeat interval (Node's default is 5 s)", async () => {
      expect(AGENT_KEEPALIVE_MS).toBeGreaterThanOrEqual(3 * 10_000); // the bench's 10 s interval, jitter, a late timer
      const dir = mkdtempSync(join(tmpdir(), "pa-tls-"));
      try {
        // argv only: a throwaway self-signed certificate for 127.0.0.1
        execFileSync(
          "openssl",
          [
            ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1"],
            ...["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
            ...["-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")],
          ],
          { stdio: "ignore" },
        );
        const cert = readFileSync(join(dir, "cert.pem"), "utf8");
        const pki = {
          caCertPem: cert,
          controllerCertPem: cert,
          controllerKeyPem: readFileSync(join(dir, "key.pem"), "utf8"),
        };
        const handler = (_req: http.IncomingMessage, res: http.ServerResponse) => void res.end("ok");
        // Node's client keeps an idle socket for the server's `Keep-Alive: timeout=` minus 1 s: the
        // header is what makes a keep-alive agent skip the handshake on its next heartbeat.
        const tls = createAgentTlsServer(pki, handler);
        expect(tls.keepAliveTimeout).toBe(AGENT_KEEPALIVE_MS);
        let handshakes = 0;
        tls.on("secureConnection", () => handshakes++);
        await new Promise<void>((r) => tls.listen(0, "127.0.0.1", r));
        const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
        const get = () =>
          new Promise<string | undefined>((resolve, reject) =>
            https
              .get(
                { host: "127.0.0.1", port: (tls.address() as AddressInfo).port, path: "/api/health", ca: cert, agent },
                (res) => res.resume().on("end", () => resolve(String(res.headers["keep-alive"]))),
              )
              .on("error", reject),
          );
        expect(await get()).toBe(`timeout=${AGENT_KEEPALIVE_MS / 1000}`);
        await new Promise((r) => setTimeout(r, 100));
        await get();
        expect(handshakes).toBe(1);
        agent.destroy();
        tls.closeAllConnections();
        await new Promise((r) => tls.close(r));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
