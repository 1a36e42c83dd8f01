import "server-only";
// Host tokens: derived from the controller secret (any controller can call any agent), stored
// only as a hash, and checked together with the pinned client certificate on the TLS port.
import { createHash } from "node:crypto";
import { AppError } from "../../errors";
import { agentTlsChannel } from "../../agent-tls";
import { deriveHostToken } from "../../host-token";
import { db, env } from "../platform";

export function sha256(s: string): string {
  return createHash("sha256").update(s).digest("hex");
}

/**
 * The host token is derived from the controller secret (lib/host-token.ts), so any controller can
 * call an agent without storing the token; the database keeps only its hash (for authenticating the agent).
 */
export function hostTokenFor(hostId: string, generation: number): string {
  return deriveHostToken(env().secret, hostId, generation);
}

/**
 * The host whose agent presented this bearer token, or a 401. Over the agent TLS port
 * (server/agent-tls-listener.ts) a host with a pinned certificate must also present that very
 * certificate as its client certificate: a stolen token without the agent's key is useless there.
 */
export async function authenticateHost(req: Request) {
  const authz = req.headers.get("authorization") ?? "";
  const token = authz.toLowerCase().startsWith("bearer ") ? authz.slice(7).trim() : "";
  const host = token ? await db().host.findUnique({ where: { agentTokenHash: sha256(token) } }) : null;
  if (!host)
    throw new AppError({
      code: "unauthenticated",
      message: "Unknown or revoked host token; register the agent again.",
    });
  const channel = agentTlsChannel(req.headers);
  if (channel.tls && host.certFingerprint && channel.clientCertFingerprint !== host.certFingerprint) {
    throw new AppError({
      code: "unauthenticated",
      message: channel.clientCertFingerprint
        ? "The client certificate presented is not the one issued to this host; register the agent again."
        : "This host must present its client certificate (issued at registration) on the agent TLS port; register the agent again.",
    });
  }
  return host;
}
