import "server-only";
// Personal API tokens: shown once, stored as sha256, same role as their user, revocable.
import { randomBytes } from "node:crypto";
import { AppError } from "../../errors";
import { db } from "../platform";
import { recordAudit } from "../platform";
import { API_TOKEN_PREFIX, hashToken, type Actor } from "./guard";

export async function listTokens(userId: string) {
  const rows = await db().apiToken.findMany({ where: { userId }, orderBy: { createdAt: "desc" } });
  return rows.map((t) => ({
    id: t.id,
    name: t.name,
    prefix: t.prefix,
    createdAt: t.createdAt,
    lastUsedAt: t.lastUsedAt,
    expiresAt: t.expiresAt,
    revokedAt: t.revokedAt,
  }));
}

export async function createToken(actor: Actor, name: string, expiresInDays: number, clientIp: string | null) {
  const secret = API_TOKEN_PREFIX + randomBytes(24).toString("base64url");
  const row = await db().apiToken.create({
    data: {
      userId: actor.id,
      name,
      tokenHash: hashToken(secret),
      prefix: secret.slice(0, 10),
      expiresAt: expiresInDays > 0 ? new Date(Date.now() + expiresInDays * 86_400_000) : null,
    },
  });
  await recordAudit({
    actor,
    action: "token.create",
    result: "success",
    targetType: "api-token",
    targetId: row.id,
    clientIp,
    details: { name },
  });
  return { id: row.id, token: secret };
}

export async function revokeToken(actor: Actor, id: string, clientIp: string | null) {
  // Scoped to the owner: one user can never revoke (or learn about) another's token.
  const res = await db().apiToken.updateMany({
    where: { id, userId: actor.id, revokedAt: null },
    data: { revokedAt: new Date() },
  });
  if (res.count === 0) throw new AppError({ code: "not_found", message: "No such active token." });
  await recordAudit({
    actor,
    action: "token.revoke",
    result: "success",
    targetType: "api-token",
    targetId: id,
    clientIp,
  });
}
