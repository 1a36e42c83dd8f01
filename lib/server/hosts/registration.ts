import "server-only";
// Agents joining the fleet (ADR 025): join token, bounded facts, no machine-id takeover, https
// agent URLs when TLS is on, certificates that name only urn:polyarch:host:<id>, pending approval.
import { createHash, randomBytes } from "node:crypto";
import type { z } from "zod";
import { AppError } from "../../errors";
import type { registerRequestSchema } from "../../schemas/agent-api";
import { db } from "../platform";
import { hostTokenFor, sha256 } from "./token";
import { HEARTBEAT_INTERVAL_MS } from "./heartbeat";
import { env } from "../platform";
import { recordAudit } from "../platform";
import { logInfo } from "../platform";
import { checkJoinToken, denyRegistration } from "./join-tokens";
import { certFingerprint, checkAgentKey, issueHostCertificate } from "../platform";

type RegisterInput = z.output<typeof registerRequestSchema>;

/** Host names the agent may not take (ADR 025): the controller's and anything that looks like our identities. */
export function isReservedHostName(name: string): boolean {
  const n = name.trim().toLowerCase();
  return n === "polyarch-controller" || n.startsWith("polyarch-") || n.startsWith("urn:") || n.startsWith("urn-");
}

/** How the registration reached us: over the agent TLS port with which verified client certificate. */
export type RegisterChannel = { tls: boolean; clientCertFingerprint: string | null };

export async function registerHost(
  input: RegisterInput,
  clientIp: string | null,
  channel: RegisterChannel = { tls: false, clientCertFingerprint: null },
) {
  const f = input.facts;
  const grant = await checkJoinToken(input.joinToken, f, clientIp);
  const agentUrl = new URL(input.agentUrl);
  // With the agent TLS port on, the controller calls agents only over mutual TLS (ADR 025).
  if (env().POLYARCH_AGENT_TLS_PORT > 0 && agentUrl.protocol !== "https:")
    throw new AppError({
      code: "invalid",
      message: `agentUrl must be https:// (this controller runs the agent TLS port); got ${agentUrl.protocol}//. --insecure-http agents cannot join it.`,
    });
  if (agentUrl.protocol === "https:" && !input.tls) {
    throw new AppError({
      code: "invalid",
      message:
        "An https agentUrl needs tls.publicKey and tls.proof: the controller issues the agent's certificate for that key.",
    });
  }
  const agentKey = input.tls ? checkAgentKey(input.tls.publicKey, input.tls.proof, f.machineId, input.agentUrl) : null;
  const existing = await db().host.findUnique({ where: { machineId: f.machineId } });
  // A revoked node comes back only with a join token created after the revocation (not the bootstrap token).
  if (existing?.revokedAt && !(grant.kind === "token" && grant.createdAt > existing.revokedAt))
    return denyRegistration(
      clientIp,
      f.hostname,
      "host revoked",
      `Host ${existing.name} was revoked at ${existing.revokedAt.toISOString()}; ` +
        `it can join again only with a join token created after that (Hosts page → Create join token).`,
    );
  if (existing && !existing.revokedAt) {
    if (existing.arch !== f.arch)
      return denyRegistration(
        clientIp,
        f.hostname,
        "arch changed",
        `Host ${existing.name} joined as ${existing.arch}; an agent reporting ${f.arch} cannot take its place. ` +
          `Delete or revoke the host first if the machine really changed.`,
        "conflict",
      );
    // Same machineId again: only the holder of the host's current certificate key (shown by the
    // TLS handshake on the agent port) may re-register — a join token alone must not take it over.
    if (existing.certFingerprint && channel.clientCertFingerprint !== existing.certFingerprint)
      return denyRegistration(
        clientIp,
        f.hostname,
        "machine id taken",
        `Machine id ${f.machineId} belongs to host ${existing.name}; re-registering it needs that host's current ` +
          `client certificate (on the agent TLS port). If the node lost its state, revoke the host and join with a new token.`,
        "conflict",
      );
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
  // New hosts (and revoked ones coming back) wait for an admin. POLYARCH_AUTO_APPROVE_HOSTS approves
  // those joining with the cluster bootstrap token (the scripted local fleet); a token created on the
  // Hosts page is for one node an admin is about to look at, so that host always waits.
  const autoApprove = env().POLYARCH_AUTO_APPROVE_HOSTS && grant.kind === "cluster";
  const approval =
    existing && !existing.revokedAt
      ? {}
      : autoApprove
        ? { approval: "approved", approvedAt: new Date(), approvedById: null }
        : { approval: "pending", approvedAt: null, approvedById: null };
  // The same node (machine id) re-registering keeps its identity, VMs and settings; its token rotates.
  const host = existing
    ? await db().host.update({
        where: { id: existing.id },
        data: { ...data, ...approval, tokenGeneration: { increment: 1 } },
      })
    : await db().host.create({
        data: {
          ...data,
          ...approval,
          name: await uniqueHostName(f.hostname, f.arch, f.machineId),
          machineId: f.machineId,
        },
      });
  const hostToken = hostTokenFor(host.id, host.tokenGeneration);
  // A new certificate on every registration: the pin moves with it, so the old one is dead.
  const cert = agentKey ? await issueHostCertificate({ hostId: host.id, publicKey: agentKey }) : null;
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
      approval: host.approval,
      ...(cert ? { certFingerprint: cert.fingerprint } : {}),
    },
  });
  logInfo("host registered", {
    hostId: host.id,
    name: host.name,
    arch: host.arch,
    again: !!existing,
    tls: Boolean(cert),
    approval: host.approval,
    ...(host.approval === "approved" && autoApprove && !existing
      ? { autoApproved: "POLYARCH_AUTO_APPROVE_HOSTS=true" }
      : {}),
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

/**
 * The node's hostname, else hostname-arch (two agents on one machine), else a machine-id suffix.
 * Reserved names (isReservedHostName) become host-<machine-id hash>: a name is only a label.
 */
async function uniqueHostName(hostname: string, arch: string, machineId: string): Promise<string> {
  const suffix = createHash("sha256").update(machineId).digest("hex").slice(0, 6);
  const cleaned = hostname.replace(/[^A-Za-z0-9.-]/g, "-").slice(0, 50);
  const base = !cleaned || isReservedHostName(cleaned) || isReservedHostName(hostname) ? `host-${suffix}` : cleaned;
  for (const name of [base, `${base}-${arch}`, `${base}-${arch}-${suffix}`]) {
    if (!(await db().host.findUnique({ where: { name } }))) return name;
  }
  return `${base}-${randomBytes(4).toString("hex")}`;
}
