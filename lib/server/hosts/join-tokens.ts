import "server-only";
// Join tokens (ADR 025): the cluster bootstrap token (stored as a SHA-256 hash, shown once when it
// is rotated) and per-host tokens created on the Hosts page (expiring, single-use by default,
// optionally bound to an architecture; only their hash is stored).
import { randomBytes, timingSafeEqual } from "node:crypto";
import { AppError } from "../../errors";
import type { Arch } from "../../arch";
import { db, env, recordAudit, recordBoundedAudit, type Actor } from "../platform";
import { sha256 } from "./token";

const JOIN_TOKEN_KEY = "cluster.joinToken";
const HASHED = "sha256:";

function sameHash(aHex: string, bHex: string): boolean {
  const a = Buffer.from(aHex, "hex");
  const b = Buffer.from(bHex, "hex");
  return a.length === b.length && a.length > 0 && timingSafeEqual(a, b);
}

/** The stored hash of the bootstrap token, or null; a clear value from before ADR 025 is hashed in place. */
async function clusterTokenHash(): Promise<string | null> {
  const row = await db().setting.findUnique({ where: { key: JOIN_TOKEN_KEY } });
  if (!row) return null;
  if (row.value.startsWith(HASHED)) return row.value.slice(HASHED.length);
  const hash = sha256(row.value);
  await db().setting.updateMany({ where: { key: JOIN_TOKEN_KEY, value: row.value }, data: { value: HASHED + hash } });
  return hash;
}

async function storeClusterToken(token: string): Promise<void> {
  const value = HASHED + sha256(token);
  await db().setting.upsert({
    where: { key: JOIN_TOKEN_KEY },
    create: { key: JOIN_TOKEN_KEY, value },
    update: { value },
  });
}

/**
 * POLYARCH_JOIN_TOKEN, when set, is the cluster's bootstrap token from start-up on (it wins over a
 * rotated one); only its hash goes into the database. Also hashes a clear token of an older version.
 */
export async function applyConfiguredJoinToken(): Promise<void> {
  const token = env().POLYARCH_JOIN_TOKEN;
  if (token) await storeClusterToken(token);
  else await clusterTokenHash();
}

/**
 * The bootstrap token in clear, for scripts and tests: only the configured POLYARCH_JOIN_TOKEN
 * (the database keeps a hash, so a rotated token cannot be read back).
 */
export async function getJoinToken(): Promise<string> {
  const token = env().POLYARCH_JOIN_TOKEN;
  if (!token)
    throw new AppError({
      code: "not_found",
      message:
        "No POLYARCH_JOIN_TOKEN is configured; the stored bootstrap token is only a hash (rotate it to see a new one).",
    });
  await storeClusterToken(token);
  return token;
}

/** Whether a bootstrap token exists (the Hosts page shows the join command with a placeholder either way). */
export async function hasClusterJoinToken(): Promise<boolean> {
  return (await clusterTokenHash()) !== null;
}

/** A new bootstrap token: returned once, stored as a hash. */
export async function rotateJoinToken(actor: Actor, clientIp: string | null): Promise<string> {
  const token = "paj_" + randomBytes(24).toString("base64url");
  await storeClusterToken(token);
  await recordAudit({ actor, action: "cluster.rotate-join-token", result: "success", clientIp });
  return token;
}

/** Expiring (default POLYARCH_JOIN_TOKEN_TTL_HOURS), unless told otherwise single-use, optionally for one arch. */
export async function createJoinToken(
  input: { ttlHours?: number; singleUse?: boolean; note?: string; arch?: Arch | null },
  actor: Actor,
  clientIp: string | null,
) {
  const token = "paj_" + randomBytes(24).toString("base64url");
  const ttlHours = input.ttlHours ?? env().POLYARCH_JOIN_TOKEN_TTL_HOURS;
  const row = await db().joinToken.create({
    data: {
      tokenHash: sha256(token),
      prefix: token.slice(0, 10),
      note: input.note ?? null,
      singleUse: input.singleUse ?? true,
      arch: input.arch ?? null,
      expiresAt: new Date(Date.now() + ttlHours * 3_600_000),
      createdById: actor.id,
    },
  });
  await recordAudit({
    actor,
    action: "cluster.create-join-token",
    result: "success",
    targetType: "join-token",
    targetId: row.id,
    clientIp,
    details: { ttlHours, singleUse: row.singleUse, arch: row.arch },
  });
  return {
    id: row.id,
    token,
    expiresAt: row.expiresAt.toISOString(),
    singleUse: row.singleUse,
    arch: (row.arch as Arch | null) ?? null,
  };
}

export type JoinGrant = { kind: "cluster" } | { kind: "token"; id: string; createdAt: Date; singleUse: boolean };

/** A refused registration: one bounded audit row per address and minute (anyone can call register). */
export async function denyRegistration(
  clientIp: string | null,
  hostname: string,
  reason: string,
  message: string,
  code: "unauthenticated" | "forbidden" | "conflict" = "unauthenticated",
): Promise<never> {
  await recordBoundedAudit({
    actor: null,
    action: "host.register",
    result: "denied",
    clientIp,
    details: { hostname: hostname.slice(0, 64), reason },
  });
  throw new AppError({ code, message });
}

/** The cluster bootstrap token, or a created join token that has neither expired nor been used and fits the arch. */
export async function checkJoinToken(
  token: string,
  facts: { hostname: string; arch: string },
  clientIp: string | null,
): Promise<JoinGrant> {
  const hash = sha256(token);
  const cluster = await clusterTokenHash();
  if (cluster && sameHash(hash, cluster)) return { kind: "cluster" };
  const deny = (reason: string, message: string) => denyRegistration(clientIp, facts.hostname, reason, message);
  const row = await db().joinToken.findUnique({ where: { tokenHash: hash } });
  if (!row)
    return deny("wrong join token", "The join token is not valid for this cluster. Create one on the Hosts page.");
  if (row.expiresAt.getTime() <= Date.now())
    return deny(
      "join token expired",
      `This join token expired at ${row.expiresAt.toISOString()}. Create a new one on the Hosts page.`,
    );
  if (row.singleUse && row.usedAt)
    return deny(
      "join token already used",
      `This join token was already used (at ${row.usedAt.toISOString()}); it is single-use. Create a new one on the Hosts page.`,
    );
  if (row.arch && row.arch !== facts.arch)
    return denyRegistration(
      clientIp,
      facts.hostname,
      "join token for another arch",
      `This join token is for ${row.arch} hosts; this agent reports ${facts.arch}. Create a token for ${facts.arch} on the Hosts page.`,
      "forbidden",
    );
  return { kind: "token", id: row.id, createdAt: row.createdAt, singleUse: row.singleUse };
}
