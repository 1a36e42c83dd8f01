import "server-only";
// Host tokens: derived from the controller secret (any controller can call any agent), stored
// only as a hash, and checked together with the pinned client certificate on the TLS port.
import crypto from "node:crypto";
import { AppError } from "../../errors";
import { agentTlsChannel } from "../../agent-tls";
import { deriveHostToken } from "../../host-token";
import { db, env } from "../platform";

// crypto.hash (Node ≥ 20.12): the one-shot form, without a Hash object per call — it runs for every
// heartbeat (issue 16); createHash where it is missing (engines allow 20.9).
const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: "hex") => string }).hash;

export function sha256(s: string): string {
  return oneShot ? oneShot("sha256", s, "hex") : crypto.createHash("sha256").update(s).digest("hex");
}

/**
 * The host token is derived from the controller secret (lib/host-token.ts), so any controller can
 * call an agent without storing the token; the database keeps only its hash (for authenticating the agent).
 */
export function hostTokenFor(hostId: string, generation: number): string {
  return deriveHostToken(env().secret, hostId, generation);
}

export type AgentChannel = { tls: boolean; clientCertFingerprint: string | null };

/**
 * The agent API answers only through the agent TLS listener (ADR 025), where a host's certificate
 * pin holds; on the console port a stolen host token alone would be enough. Tests without the
 * TLS port re-open the console port with POLYARCH_AGENT_API_ON_CONSOLE_PORT=true.
 */
export function requireAgentChannel(req: Request): AgentChannel {
  return requireAgentTls(agentTlsChannel(req.headers));
}

/** requireAgentChannel for a channel the caller already knows (the agent TLS listener's own fast path). */
export function requireAgentTls(channel: AgentChannel): AgentChannel {
  if (!channel.tls && !env().POLYARCH_AGENT_API_ON_CONSOLE_PORT)
    throw new AppError({
      code: "not_found",
      message:
        "The agent API (/api/agent/v1/*) is served only on the agent TLS port (POLYARCH_AGENT_TLS_PORT); " +
        "point the agent's --controller at https://<controller>:<that port>.",
    });
  return channel;
}

/** The token of an `Authorization: Bearer <token>` header, or "" (then no host matches). */
export function bearerToken(authorization: string | null | undefined): string {
  const authz = authorization ?? "";
  return authz.toLowerCase().startsWith("bearer ") ? authz.slice(7).trim() : "";
}

/** What the credential checks read of a host row (the heartbeat's own query selects just these). */
export type HostCredentialRow = { name: string; approval: string; certFingerprint: string | null };

/**
 * The checks after the token matched `host` (null = no host has it: 401). Over the agent TLS port
 * (server/agent-tls-listener.ts) a host with a pinned certificate must also present that very
 * certificate as its client certificate: a stolen token without the agent's key is useless there.
 * Then approval. The one rule for every agent route, including the heartbeat's
 * fast path (lib/server/vms/heartbeat-ingest.ts), which finds the host with its own query.
 * opts.allowPending: a host waiting for approval may heart-beat (so the admin sees it alive), but
 * nothing else — no image downloads (ADR 025).
 */
export function checkHostCredentials<H extends HostCredentialRow>(
  host: H | null,
  channel: AgentChannel,
  opts: { allowPending?: boolean } = {},
): H {
  if (!host)
    throw new AppError({
      code: "unauthenticated",
      message: "Unknown or revoked host token; register the agent again.",
    });
  if (channel.tls && host.certFingerprint && channel.clientCertFingerprint !== host.certFingerprint) {
    throw new AppError({
      code: "unauthenticated",
      message: channel.clientCertFingerprint
        ? "The client certificate presented is not the one issued to this host; register the agent again."
        : "This host must present its client certificate (issued at registration) on the agent TLS port; register the agent again.",
    });
  }
  if (host.approval !== "approved" && !opts.allowPending)
    throw new AppError({
      code: "forbidden",
      message: `Host ${host.name} is waiting for an admin's approval (Hosts page); until then it may only report heartbeats.`,
    });
  return host;
}

/** The host whose agent presented this request's bearer token over the agent channel, or a 401/403/404. */
export async function authenticateHost(req: Request, opts: { allowPending?: boolean } = {}) {
  const channel = requireAgentChannel(req);
  const token = bearerToken(req.headers.get("authorization"));
  const host = token ? await db().host.findUnique({ where: { agentTokenHash: sha256(token) } }) : null;
  return checkHostCredentials(host, channel, opts);
}
