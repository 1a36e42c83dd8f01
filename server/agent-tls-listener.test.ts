// The agent TLS listener's request wrapper and the channel marker it hands the app through
// lib/server-hooks.ts (lib/agent-tls.ts reads it). With real certificates, a real agent and the
// real route handlers: lib/server/hosts/controller-tls.int.test.ts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { agentTlsChannel, CHANNEL_HEADER, CLIENT_CERT_HEADER } from "../lib/agent-tls";
import { serverHooks } from "../lib/server-hooks";
import { agentTlsRequestHandler, isAgentTlsPath, stripAgentTlsHeaders } from "./agent-tls-listener";

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
});
