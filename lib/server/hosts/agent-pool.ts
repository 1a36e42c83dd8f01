import "server-only";
// Kept-alive TLS connections to agents (issue 16): a create's PUT, a power action and the next call
// to the same host reuse one verified connection instead of building a secure context and doing a
// handshake every time (12 % of the controller's CPU at 35 creates/s). One https.Agent per host and
// pinned fingerprint: a new certificate on record gets a new pool, so a connection verified against
// the old pin is never reused; checkServerIdentity still runs on every new connection.
import https from "node:https";
import tls from "node:tls";
import { ensurePki, type Pki } from "../platform";

/** Idle connections kept per host: a burst of creates to one host needs a few, not one per create. */
const MAX_FREE_SOCKETS = 4;

interface Pool {
  fingerprint: string;
  pki: Pki;
  agent: https.Agent;
}

const pools = new Map<string, Pool>();
let shared: { pki: Pki; context: tls.SecureContext } | null = null;

/** Our CA and client certificate as one secure context, built once per PKI (not per connection). */
function secureContextFor(pki: Pki): tls.SecureContext {
  if (shared?.pki !== pki)
    shared = {
      pki,
      context: tls.createSecureContext({
        ca: pki.caCertPem,
        cert: pki.controllerCertPem,
        key: pki.controllerKeyPem,
        minVersion: "TLSv1.2",
      }),
    };
  return shared.context;
}

/**
 * The pool for one host under its current pin. `verify` builds the check of the host URI and the
 * fingerprint (the chain is checked against our CA first); called only when a new pool is made.
 */
export async function agentPoolFor(
  hostId: string,
  fingerprint: string,
  verify: () => https.AgentOptions["checkServerIdentity"],
): Promise<https.Agent> {
  const pki = await ensurePki();
  const pool = pools.get(hostId);
  if (pool && pool.fingerprint === fingerprint && pool.pki === pki) return pool.agent;
  pool?.agent.destroy();
  const agent = new https.Agent({
    keepAlive: true,
    maxFreeSockets: MAX_FREE_SOCKETS,
    // Node expires an idle socket one second before the agent's advertised Keep-Alive timeout.
    scheduling: "lifo",
    secureContext: secureContextFor(pki),
    checkServerIdentity: verify(),
  });
  pools.set(hostId, { fingerprint, pki, agent });
  return agent;
}

/** Drops a host's idle connections (revoked or deleted host). */
export function dropAgentPool(hostId: string): void {
  pools.get(hostId)?.agent.destroy();
  pools.delete(hostId);
}

/**
 * A kept-alive socket the agent closed just as we sent on it fails with ECONNRESET/EPIPE before any
 * answer: the request never reached a handler, so it is safe to send once more on a new connection
 * (Node's documented pattern for `req.reusedSocket`).
 */
export function isStaleSocketError(error: unknown, reusedSocket: boolean): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return reusedSocket && (code === "ECONNRESET" || code === "EPIPE");
}
