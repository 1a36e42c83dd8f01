// Sets the one client-address header the app trusts (lib/client-address.ts, ADR 024) on every request
// this server accepts — plain HTTP, WebSocket upgrades and the agent TLS port — from the socket, so a
// client cannot choose its own address by sending X-Forwarded-For, X-Real-IP or our header itself.
import type { IncomingMessage } from "node:http";
import { z } from "zod";
import {
  CLIENT_ADDRESS_HEADER,
  resolveClientAddress,
  trustedProxies,
  trustedProxiesSchema,
  type TrustedProxies,
} from "../lib/client-address";

/** POLYARCH_TRUSTED_PROXIES from the environment; a bad entry stops start-up with a sentence. */
export function trustedProxiesFromEnv(environment: Record<string, string | undefined>): TrustedProxies {
  const parsed = z.object({ POLYARCH_TRUSTED_PROXIES: trustedProxiesSchema }).safeParse(environment);
  if (!parsed.success) {
    throw new Error(
      `Invalid configuration: POLYARCH_TRUSTED_PROXIES: ${parsed.error.issues.map((i) => i.message).join("; ")}`,
    );
  }
  return trustedProxies(parsed.data.POLYARCH_TRUSTED_PROXIES);
}

/**
 * Overwrites the request's client-address header with the address resolved from its socket (and, behind
 * a trusted proxy, X-Forwarded-For), and removes X-Real-IP, which nothing may believe.
 */
export function applyClientAddress(req: IncomingMessage, trusted: TrustedProxies): void {
  const forwarded = req.headers["x-forwarded-for"];
  const address = resolveClientAddress(
    req.socket?.remoteAddress,
    Array.isArray(forwarded) ? forwarded.join(",") : forwarded,
    trusted,
  );
  delete req.headers[CLIENT_ADDRESS_HEADER];
  delete req.headers["x-real-ip"];
  if (address) req.headers[CLIENT_ADDRESS_HEADER] = address;
}
