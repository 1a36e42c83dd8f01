import "server-only";
import { hostnameFromName } from "../../hostname";
import { loginUserData } from "./login";
// SSH public keys per user (Account page) and the cloud-init data the controller sends with a VM.
// Every query is scoped to the actor's own user id: nobody lists or deletes another user's keys.
import { createHash } from "node:crypto";
import { AppError } from "../../errors";
import type { VmSpecInput } from "../../schemas/agent-api";
import { MAX_SSH_KEYS_PER_USER, parseSshPublicKey, type AddSshKeyInput } from "../../schemas/ssh-keys";
import { recordAudit } from "../platform";
import { db, isUniqueViolation } from "../platform";
import type { Actor } from "./guard";

function parseOrThrow(publicKey: string) {
  const parsed = parseSshPublicKey(publicKey);
  if (!parsed.ok) throw new AppError({ code: "invalid", message: parsed.error });
  return parsed.key;
}

/** `SHA256:<base64, no padding>` of the decoded key blob — what `ssh-keygen -lf` prints. */
export function sshFingerprint(publicKey: string): string {
  const digest = createHash("sha256")
    .update(Buffer.from(parseOrThrow(publicKey).base64, "base64"))
    .digest("base64");
  return `SHA256:${digest.replace(/=+$/, "")}`;
}

export async function listSshKeys(userId: string) {
  const rows = await db().sshKey.findMany({ where: { userId }, orderBy: { createdAt: "asc" } });
  return rows.map((k) => ({
    id: k.id,
    name: k.name,
    fingerprint: k.fingerprint,
    type: k.publicKey.split(" ")[0] ?? "",
    createdAt: k.createdAt,
  }));
}

/** `input.publicKey` is the canonical line from addSshKeySchema. */
export async function addSshKey(actor: Actor, input: AddSshKeyInput, clientIp: string | null) {
  const key = parseOrThrow(input.publicKey);
  const fingerprint = sshFingerprint(input.publicKey);
  const name = input.name || key.comment.slice(0, 100) || key.type;
  const where = { userId_fingerprint: { userId: actor.id, fingerprint } };
  const duplicate = async () => {
    const k = await db().sshKey.findUnique({ where });
    await recordAudit({
      actor,
      action: "ssh-key.create",
      result: "error",
      targetType: "ssh-key",
      clientIp,
      details: { fingerprint, reason: "duplicate" },
    });
    return new AppError({
      code: "conflict",
      message: `This key is already on your account as "${k?.name ?? "another key"}" (${fingerprint}).`,
    });
  };
  if (await db().sshKey.findUnique({ where })) throw await duplicate();
  if ((await db().sshKey.count({ where: { userId: actor.id } })) >= MAX_SSH_KEYS_PER_USER) {
    throw new AppError({
      code: "conflict",
      message: `You already have ${MAX_SSH_KEYS_PER_USER} keys; delete one first.`,
    });
  }
  let row;
  try {
    row = await db().sshKey.create({ data: { userId: actor.id, name, publicKey: input.publicKey, fingerprint } });
  } catch (e) {
    // Two concurrent adds of the same key: the unique index decides, the loser gets the same message.
    if (isUniqueViolation(e)) throw await duplicate();
    throw e;
  }
  await recordAudit({
    actor,
    action: "ssh-key.create",
    result: "success",
    targetType: "ssh-key",
    targetId: row.id,
    clientIp,
    details: { name, fingerprint },
  });
  return { id: row.id, name: row.name, fingerprint };
}

export async function deleteSshKey(actor: Actor, id: string, clientIp: string | null) {
  const key = await db().sshKey.findFirst({ where: { id, userId: actor.id } });
  if (!key) throw new AppError({ code: "not_found", message: "No such key on your account." });
  await db().sshKey.deleteMany({ where: { id: key.id, userId: actor.id } });
  await recordAudit({
    actor,
    action: "ssh-key.delete",
    result: "success",
    targetType: "ssh-key",
    targetId: key.id,
    clientIp,
    details: { name: key.name, fingerprint: key.fingerprint },
  });
}

/**
 * The cloud-init part of the agent spec: hostname, the VM's own login key (the wizard's) and the
 * owner's keys (oldest first, as many as the agent takes), and the VM's own user-data — or, when the
 * wizard set a password instead, the #cloud-config that sets it from its hash. Every VM gets a seed,
 * so keys added later reach VMs whose seed is rebuilt (stopped VMs on their next PUT).
 */
export async function cloudInitFor(vm: {
  name: string;
  hostname: string | null;
  ownerId: string | null;
  userData: string | null;
  loginPasswordHash?: string | null;
  loginSshKey?: string | null;
}): Promise<VmSpecInput["cloudInit"]> {
  const own = vm.loginSshKey ? [vm.loginSshKey] : [];
  const keys = vm.ownerId
    ? await db().sshKey.findMany({
        where: { userId: vm.ownerId },
        orderBy: { createdAt: "asc" },
        take: MAX_SSH_KEYS_PER_USER - own.length,
        select: { publicKey: true },
      })
    : [];
  const userData = vm.userData ?? (vm.loginPasswordHash ? loginUserData(vm.loginPasswordHash) : null);
  return {
    hostname: vm.hostname ?? hostnameFromName(vm.name),
    sshKeys: [...new Set([...own, ...keys.map((k) => k.publicKey)])],
    userData: userData ?? undefined,
  };
}
