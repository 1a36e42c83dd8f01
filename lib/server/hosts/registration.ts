import "server-only";
// Agents joining the fleet: the cluster join tokens and registration.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { z } from "zod";
import { AppError } from "../../errors";
import type { registerRequestSchema } from "../../schemas/agent-api";
import { db } from "../platform";
import { hostTokenFor, sha256 } from "./token";
import { HEARTBEAT_INTERVAL_MS } from "./heartbeat";
import { env } from "../platform";
import { recordAudit, recordBoundedAudit } from "../platform";
import type { Actor } from "../platform";
import { logInfo } from "../platform";
import { certFingerprint, checkAgentKey, issueHostCertificate } from "../platform";

const JOIN_TOKEN_KEY = "cluster.joinToken";

function safeEqual(a: string, b: string): boolean {
  const ha = Buffer.from(sha256(a), "hex");
  const hb = Buffer.from(sha256(b), "hex");
  return timingSafeEqual(ha, hb);
}

export async function getJoinToken(): Promise<string> {
  const row = await db().setting.findUnique({ where: { key: JOIN_TOKEN_KEY } });
  if (row) return row.value;
  const token = env().POLYARCH_JOIN_TOKEN ?? "paj_" + randomBytes(24).toString("base64url");
  await db().setting.upsert({
    where: { key: JOIN_TOKEN_KEY },
    create: { key: JOIN_TOKEN_KEY, value: token },
    update: {},
  });
  return (await db().setting.findUniqueOrThrow({ where: { key: JOIN_TOKEN_KEY } })).value;
}

/** POLYARCH_JOIN_TOKEN, when set, is the cluster's join token from start-up on (it wins over a rotated one). */
export async function applyConfiguredJoinToken(): Promise<void> {
  const token = env().POLYARCH_JOIN_TOKEN;
  if (!token) return;
  await db().setting.upsert({
    where: { key: JOIN_TOKEN_KEY },
    create: { key: JOIN_TOKEN_KEY, value: token },
    update: { value: token },
  });
}

export async function rotateJoinToken(actor: Actor, clientIp: string | null): Promise<string> {
  const token = "paj_" + randomBytes(24).toString("base64url");
  await db().setting.upsert({
    where: { key: JOIN_TOKEN_KEY },
    create: { key: JOIN_TOKEN_KEY, value: token },
    update: { value: token },
  });
  await recordAudit({ actor, action: "cluster.rotate-join-token", result: "success", clientIp });
  return token;
}

type RegisterInput = z.output<typeof registerRequestSchema>;

/** Expiring (default POLYARCH_JOIN_TOKEN_TTL_HOURS) and, unless told otherwise, single-use; only its hash is stored. */
export async function createJoinToken(
  input: { ttlHours?: number; singleUse?: boolean; note?: string },
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
    details: { ttlHours, singleUse: row.singleUse },
  });
  return { id: row.id, token, expiresAt: row.expiresAt.toISOString(), singleUse: row.singleUse };
}

type JoinGrant = { kind: "cluster" } | { kind: "token"; id: string; createdAt: Date; singleUse: boolean };

/** The cluster bootstrap token, or a created join token that has neither expired nor been used. */
async function checkJoinToken(token: string, hostname: string, clientIp: string | null): Promise<JoinGrant> {
  if (safeEqual(token, await getJoinToken())) return { kind: "cluster" };
  const deny = async (reason: string, message: string): Promise<never> => {
    // Anyone can call the register endpoint: one row per address and minute, counting the attempts.
    await recordBoundedAudit({
      actor: null,
      action: "host.register",
      result: "denied",
      clientIp,
      details: { hostname, reason },
    });
    throw new AppError({ code: "unauthenticated", message });
  };
  const row = await db().joinToken.findUnique({ where: { tokenHash: sha256(token) } });
  if (!row)
    return deny(
      "wrong join token",
      "The join token is not valid for this cluster. Copy the current one from the Hosts page.",
    );
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
  return { kind: "token", id: row.id, createdAt: row.createdAt, singleUse: row.singleUse };
}

export async function registerHost(input: RegisterInput, clientIp: string | null) {
  const grant = await checkJoinToken(input.joinToken, input.facts.hostname, clientIp);
  const agentUrl = new URL(input.agentUrl);
  if (agentUrl.protocol === "https:" && !input.tls) {
    throw new AppError({
      code: "invalid",
      message:
        "An https agentUrl needs tls.publicKey and tls.proof: the controller issues the agent's certificate for that key.",
    });
  }
  const agentKey = input.tls
    ? checkAgentKey(input.tls.publicKey, input.tls.proof, input.facts.machineId, input.agentUrl)
    : null;
  const revoked = await db().host.findUnique({
    where: { machineId: input.facts.machineId },
    select: { name: true, revokedAt: true },
  });
  // A revoked node comes back only with a join token created after the revocation (not the bootstrap token).
  if (revoked?.revokedAt && !(grant.kind === "token" && grant.createdAt > revoked.revokedAt)) {
    await recordBoundedAudit({
      actor: null,
      action: "host.register",
      result: "denied",
      clientIp,
      details: { hostname: input.facts.hostname, reason: "host revoked" },
    });
    throw new AppError({
      code: "unauthenticated",
      message:
        `Host ${revoked.name} was revoked at ${revoked.revokedAt.toISOString()}; ` +
        `it can join again only with a join token created after that (Hosts page → Create join token).`,
    });
  }
  // Spend a single-use token before anything else: two agents racing with it get one host between them.
  if (grant.kind === "token" && grant.singleUse) {
    const claimed = await db().joinToken.updateMany({
      where: { id: grant.id, usedAt: null },
      data: { usedAt: new Date() },
    });
    if (claimed.count !== 1)
      throw new AppError({
        code: "unauthenticated",
        message: "This join token was already used; it is single-use. Create a new one on the Hosts page.",
      });
  }
  const f = input.facts;
  const data = {
    arch: f.arch,
    cpuModel: f.cpuModel,
    cpuCount: f.cpuCount,
    memoryMb: f.memoryMb,
    diskGb: f.diskGb,
    kvm: f.kvm,
    nativeArches: JSON.stringify(f.nativeArches),
    emulatedArches: JSON.stringify(f.emulatedArches),
    maxVcpusNative: f.maxVcpusNative,
    maxVcpusEmulated: f.maxVcpusEmulated,
    qemuVersion: f.qemu.version,
    ovsDatapath: f.ovs.datapath,
    agentUrl: input.agentUrl,
    facts: JSON.stringify(f),
    status: "online",
    lastHeartbeatAt: new Date(),
  };
  // The same node (machine id) re-registering keeps its identity, VMs and settings; its token rotates.
  const existing = await db().host.findUnique({ where: { machineId: f.machineId } });
  const host = existing
    ? await db().host.update({ where: { id: existing.id }, data: { ...data, tokenGeneration: { increment: 1 } } })
    : await db().host.create({
        data: { ...data, name: await uniqueHostName(f.hostname, f.arch, f.machineId), machineId: f.machineId },
      });
  const hostToken = hostTokenFor(host.id, host.tokenGeneration);
  // A new certificate on every registration: the pin moves with it, so the old one is dead.
  const cert = agentKey
    ? await issueHostCertificate({
        hostId: host.id,
        hostName: host.name,
        agentUrl: input.agentUrl,
        publicKey: agentKey,
      })
    : null;
  await db().host.update({
    where: { id: host.id },
    data: {
      agentTokenHash: sha256(hostToken),
      certFingerprint: cert?.fingerprint ?? null,
      certExpiresAt: cert?.expiresAt ?? null,
      revokedAt: null,
    },
  });
  if (grant.kind === "token")
    await db().joinToken.update({
      where: { id: grant.id },
      data: { usedByHostId: host.id, ...(grant.singleUse ? {} : { usedAt: new Date() }) },
    });
  await recordAudit({
    actor: null,
    action: existing ? "host.re-register" : "host.register",
    result: "success",
    targetType: "host",
    targetId: host.id,
    clientIp,
    details: {
      name: host.name,
      arch: host.arch,
      joinToken: grant.kind === "cluster" ? "cluster" : grant.id,
      tls: Boolean(cert),
      ...(cert ? { certFingerprint: cert.fingerprint } : {}),
    },
  });
  logInfo("host registered", {
    hostId: host.id,
    name: host.name,
    arch: host.arch,
    again: !!existing,
    tls: Boolean(cert),
  });
  return {
    hostId: host.id,
    hostToken,
    heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
    ...(cert
      ? {
          tls: {
            certificate: cert.certPem,
            caCertificate: cert.caCertPem,
            fingerprint: cert.fingerprint,
            caFingerprint: certFingerprint(cert.caCertPem),
          },
        }
      : {}),
  };
}

/** The node's hostname, else hostname-arch (two agents on one machine), else a machine-id suffix. */
async function uniqueHostName(hostname: string, arch: string, machineId: string): Promise<string> {
  const base = hostname.replace(/[^A-Za-z0-9.-]/g, "-").slice(0, 50) || "host";
  const suffix = createHash("sha256").update(machineId).digest("hex").slice(0, 6);
  for (const name of [base, `${base}-${arch}`, `${base}-${arch}-${suffix}`]) {
    if (!(await db().host.findUnique({ where: { name } }))) return name;
  }
  return `${base}-${randomBytes(4).toString("hex")}`;
}
