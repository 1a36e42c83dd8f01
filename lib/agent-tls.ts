// The parts of the agent TLS port (docs/decisions/017-agent-tls.md) that the custom server's
// listener (server/agent-tls-listener.ts) and the app's route handlers (lib/server/hosts/token.ts)
// share. When a client certificate chains to the cluster CA, the listener passes its SHA-256
// fingerprint to the app in CLIENT_CERT_HEADER, plus CHANNEL_HEADER carrying a random per-process
// value only the listener knows (published through lib/server-hooks.ts): a header that did not come
// from the listener — through the plain port, `next dev`, a proxy — cannot match it and is ignored.
import { timingSafeEqual } from "node:crypto";
import { serverHooks } from "./server-hooks";

export const CLIENT_CERT_HEADER = "x-polyarch-client-cert-fingerprint";
export const CHANNEL_HEADER = "x-polyarch-agent-channel";

/** A certificate fingerprint as Host.certFingerprint stores it: hex, lower-case, no colons. */
export function normalizeFingerprint(fp: string): string {
  return fp.replace(/[^0-9a-fA-F]/g, "").toLowerCase();
}

/**
 * For route handlers: whether the request came through the agent TLS listener of this process,
 * and the fingerprint of the client certificate that verified against the cluster CA (or null).
 */
export function agentTlsChannel(headers: Headers): { tls: boolean; clientCertFingerprint: string | null } {
  const secret = serverHooks().agentTlsChannel;
  const got = Buffer.from(headers.get(CHANNEL_HEADER) ?? "");
  // compared as bytes: a non-ASCII header value of the same string length must not throw
  if (!secret || got.length !== Buffer.byteLength(secret) || !timingSafeEqual(got, Buffer.from(secret)))
    return { tls: false, clientCertFingerprint: null };
  const fp = headers.get(CLIENT_CERT_HEADER);
  return { tls: true, clientCertFingerprint: fp && /^[0-9a-f]{64}$/.test(fp) ? fp : null };
}
