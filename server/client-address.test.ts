// The custom server's side of ADR 024: every request reaches the app with exactly one client-address
// header, computed from the socket; whatever the client sent in its place is gone.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { CLIENT_ADDRESS_HEADER } from "../lib/client-address";
import { applyClientAddress, trustedProxiesFromEnv } from "./client-address";

describe("applyClientAddress", () => {
  let trustLoopback = false;
  const server = http.createServer((req, res) => {
    applyClientAddress(
      req,
      trustedProxiesFromEnv({ POLYARCH_TRUSTED_PROXIES: trustLoopback ? "127.0.0.0/8,::1" : "" }),
    );
    res.end(
      JSON.stringify({ client: req.headers[CLIENT_ADDRESS_HEADER] ?? null, realIp: req.headers["x-real-ip"] ?? null }),
    );
  });
  let port = 0;
  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const ask = async (headers: Record<string, string>) =>
    (await fetch(`http://127.0.0.1:${port}/`, { headers })).json() as Promise<{
      client: string;
      realIp: string | null;
    }>;

  it("ignores X-Forwarded-For, X-Real-IP and a forged copy of its own header from an untrusted peer", async () => {
    trustLoopback = false;
    const answer = await ask({
      "x-forwarded-for": "1.2.3.4",
      "x-real-ip": "5.6.7.8",
      [CLIENT_ADDRESS_HEADER]: "9.9.9.9",
    });
    expect(answer).toEqual({ client: "127.0.0.1", realIp: null });
  });

  it("believes the right-most X-Forwarded-For entry when the peer is a trusted proxy", async () => {
    trustLoopback = true;
    const answer = await ask({ "x-forwarded-for": "1.2.3.4, 203.0.113.9", [CLIENT_ADDRESS_HEADER]: "9.9.9.9" });
    expect(answer).toEqual({ client: "203.0.113.9", realIp: null });
  });

  it("refuses a bad POLYARCH_TRUSTED_PROXIES with a sentence", () => {
    expect(() => trustedProxiesFromEnv({ POLYARCH_TRUSTED_PROXIES: "10.0.0.0/8,proxy" })).toThrow(
      /POLYARCH_TRUSTED_PROXIES: "proxy" is not an IP address or CIDR range/,
    );
  });
});
