import "server-only";
// Admin actions on one host's credentials (docs/decisions/017-agent-tls.md): rotate its token,
// revoke it (token + certificate). Both take effect at once on the controller's side.
import { createHash } from "node:crypto";
import { AppError } from "../../errors";
import { agentClient } from "./agent-client";
import { dropAgentPool } from "./agent-pool";
import { recordAudit } from "../platform";
import { db } from "../platform";
import { hostTokenFor } from "./token";
import type { Actor } from "../platform";
import { logInfo } from "../platform";

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

export type RotateResult = { hostId: string; generation: number; delivered: boolean; message: string };

/**
 * New generation -> new token; the old one is refused by the controller from the commit on. The
 * new token goes to the agent over its mutually authenticated TLS API (PUT /v1/token, with the
 * old token); the agent then accepts only the new one. An unreachable agent re-joins with its
 * join token on its next heartbeat's 401.
 */
export async function rotateHostToken(
  hostId: string,
  who: { actor: Actor; clientIp: string | null },
): Promise<RotateResult> {
  const host = await db().host.findUnique({ where: { id: hostId } });
  if (!host) throw new AppError({ code: "not_found", message: `Host ${hostId} does not exist.` });
  if (host.revokedAt)
    throw new AppError({
      code: "conflict",
      message: `Host ${host.name} is revoked; it must join again before it has a token to rotate.`,
    });
  if (!host.agentTokenHash)
    throw new AppError({
      code: "conflict",
      message: `Host ${host.name} has no token yet (its agent never registered).`,
    });
  const oldToken = hostTokenFor(host.id, host.tokenGeneration);
  const generation = host.tokenGeneration + 1;
  const newToken = hostTokenFor(host.id, generation);
  // Compare-and-set on the generation: two rotations at once produce one winner, not two tokens.
  const updated = await db().host.updateMany({
    where: { id: host.id, tokenGeneration: host.tokenGeneration },
    data: { tokenGeneration: generation, agentTokenHash: sha256(newToken) },
  });
  if (updated.count !== 1)
    throw new AppError({
      code: "conflict",
      message: `The token of host ${host.name} was changed meanwhile; try again.`,
    });
  let delivered = false;
  let why = "";
  try {
    await agentClient.pushToken(host, oldToken, newToken, generation);
    delivered = true;
  } catch (error) {
    why = error instanceof Error ? error.message : String(error);
  }
  await recordAudit({
    actor: who.actor,
    action: "host.rotate-token",
    result: "success",
    targetType: "host",
    targetId: host.id,
    clientIp: who.clientIp,
    details: { name: host.name, generation, delivered, ...(why ? { error: why } : {}) },
  });
  logInfo("host token rotated", { hostId: host.id, generation, delivered });
  return {
    hostId: host.id,
    generation,
    delivered,
    message: delivered
      ? `The agent of ${host.name} now uses the new token; the old one is refused.`
      : `The old token is refused. The agent of ${host.name} could not be told (${why}); it joins again with its join token when it next reports.`,
  };
}

/**
 * Revoke: the token and the certificate pin are erased, so heartbeats, image downloads and
 * controller calls stop at once; the node comes back only with a join token created afterwards.
 */
export async function revokeHost(hostId: string, who: { actor: Actor; clientIp: string | null }) {
  const host = await db().host.findUnique({ where: { id: hostId } });
  if (!host) throw new AppError({ code: "not_found", message: `Host ${hostId} does not exist.` });
  const revokedAt = new Date();
  await db().$transaction([
    db().host.update({
      where: { id: host.id },
      data: {
        agentTokenHash: null,
        certFingerprint: null,
        certExpiresAt: null,
        revokedAt,
        status: "offline",
        tokenGeneration: { increment: 1 },
      },
    }),
    db().vm.updateMany({
      where: { hostId: host.id, status: { in: ["running", "stopped", "creating"] } },
      data: { status: "unknown", powerState: "unknown" },
    }),
  ]);
  // (on the controller that revoked; another controller's pool is keyed by the pin erased here)
  dropAgentPool(host.id);
  await recordAudit({
    actor: who.actor,
    action: "host.revoke",
    result: "success",
    targetType: "host",
    targetId: host.id,
    clientIp: who.clientIp,
    details: { name: host.name, certFingerprint: host.certFingerprint },
  });
  logInfo("host revoked", { hostId: host.id, name: host.name });
  return {
    hostId: host.id,
    revokedAt: revokedAt.toISOString(),
    message: `Host ${host.name} is revoked: its token and certificate are refused. It can join again only with a join token created from now on.`,
  };
}
