// SSH public keys (Account page) and cloud-init user-data: shared by forms, actions, the API and
// lib/server/identity/ssh-keys.ts. Pure zod + atob (works in the browser and in Node).
import { z } from "zod";

export const SSH_KEY_TYPES = [
  "ssh-ed25519",
  "ssh-rsa",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "sk-ssh-ed25519@openssh.com",
  "sk-ecdsa-sha2-nistp256@openssh.com",
] as const;

/** The agent's cloud-init spec carries at most this many keys (lib/schemas/agent-api.ts). */
export const MAX_SSH_KEYS_PER_USER = 32;

/** Decoded key blob, or null when `b64` is not canonical base64. */
export function decodeKeyBlob(b64: string): Uint8Array | null {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0) return null;
  try {
    return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

/** The type name inside an OpenSSH wire-format blob (uint32 length + string). */
function blobType(blob: Uint8Array): string | null {
  if (blob.length < 4) return null;
  const len = ((blob[0]! << 24) | (blob[1]! << 16) | (blob[2]! << 8) | blob[3]!) >>> 0;
  if (len === 0 || len > 64 || 4 + len > blob.length) return null;
  return String.fromCharCode(...blob.subarray(4, 4 + len));
}

export type ParsedSshKey = { type: (typeof SSH_KEY_TYPES)[number]; base64: string; comment: string };

/** `<type> <base64> [comment]` → parts, or an error message a user can act on. */
export function parseSshPublicKey(line: string): { ok: true; key: ParsedSshKey } | { ok: false; error: string } {
  const text = line.trim();
  if (/[\r\n\0]/.test(text))
    return { ok: false, error: "Paste one key on a single line (the contents of your id_*.pub file)." };
  const m = /^(\S+)\s+(\S+)(?:\s+(.*))?$/.exec(text);
  if (!m)
    return {
      ok: false,
      error: "A public key looks like 'ssh-ed25519 AAAA… comment' (the contents of your id_*.pub file).",
    };
  const [, type, b64, comment = ""] = m;
  if (!(SSH_KEY_TYPES as readonly string[]).includes(type!)) {
    if (/PRIVATE KEY/.test(text))
      return { ok: false, error: "This is a private key. Paste the public key (the .pub file) instead." };
    return {
      ok: false,
      error: `Unsupported key type '${type!.slice(0, 40)}'; use one of ${SSH_KEY_TYPES.join(", ")}.`,
    };
  }
  const blob = decodeKeyBlob(b64!);
  if (!blob) return { ok: false, error: "The key's base64 part is malformed." };
  // The blob names its own type: catches truncated pastes and type/blob mix-ups.
  if (blobType(blob) !== type)
    return { ok: false, error: `The key data is not a valid ${type} key (truncated or mixed up?).` };
  return { ok: true, key: { type: type as ParsedSshKey["type"], base64: b64!, comment: comment.trim() } };
}

export const sshPublicKeySchema = z
  .string()
  .trim()
  .min(1, "public key is required")
  .max(16384, "public key is at most 16384 characters")
  .superRefine((v, ctx) => {
    const r = parseSshPublicKey(v);
    if (!r.ok) ctx.addIssue({ code: "custom", message: r.error });
  })
  // Canonical form: single spaces; the comment is kept (it helps users recognise their key).
  .transform((v) => {
    const r = parseSshPublicKey(v);
    return r.ok ? [r.key.type, r.key.base64, r.key.comment].filter(Boolean).join(" ") : v;
  });

export const addSshKeySchema = z.object({
  /** empty = the key's comment (or its type) */
  name: z.string().trim().max(100, "name is at most 100 characters").optional().default(""),
  publicKey: sshPublicKeySchema,
});
export type AddSshKeyInput = z.output<typeof addSshKeySchema>;

export const sshKeyIdSchema = z.object({ id: z.string().min(1).max(64) });

/**
 * cloud-init user-data for the wizard/API: a `#cloud-config` YAML document or a script (`#!`);
 * anything else cloud-init would silently ignore. Empty = none.
 */
export const userDataSchema = z
  .string()
  .max(65536, "user-data is at most 64 KiB")
  .refine((v) => !v.includes("\0"), "user-data may not contain NUL bytes")
  .refine(
    (v) => v.trim() === "" || /^(#cloud-config|#!)/.test(v.trimStart()),
    "user-data must start with '#cloud-config' or '#!' (a script)",
  )
  .transform((v) => (v.trim() === "" ? undefined : v))
  .optional();

/**
 * A password for the image's default user, set by cloud-init (the wizard's login step). Stored and
 * sent only as a SHA-512 crypt hash (lib/server/identity/login.ts).
 */
export const loginPasswordSchema = z
  .string()
  .min(8, "the password needs at least 8 characters")
  .max(128, "the password is at most 128 characters")
  .refine((v) => !/[\u0000-\u001f\u007f]/.test(v), "the password may not contain control characters");
