// Console tickets: short-lived, single-use, HMAC-signed grants to open one VM's serial console or
// graphical (VNC) console. Plain JS because the custom server (scripts/server.mjs) runs without a
// build step; the ticket route imports the same file (types in console-ticket.d.mts). The
// signature makes forgeries cheap to refuse; single use is a database row (lib/server/
// console-tickets.ts) so that every controller shares it. See docs/decisions/010 and 013.
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { z } from "zod";

export const TICKET_TTL_MS = 30_000;
export const CONSOLE_KINDS = ["serial", "vnc"];

const claimsSchema = z.object({
  v: z.literal(1),
  vmId: z.string().min(1).max(200),
  userId: z.string().min(1).max(200),
  write: z.boolean(),
  /** absent in tickets from before VNC: serial */
  kind: z.enum(CONSOLE_KINDS).default("serial"),
  agentUrl: z.string().url().refine((u) => /^https?:\/\//.test(u), "agentUrl must be http(s)"),
  hostId: z.string().min(1).max(200),
  gen: z.number().int().min(0),
  exp: z.number().int(),
  nonce: z.string().regex(/^[A-Za-z0-9_-]{16,64}$/),
}).strict();

// Domain separation: the ticket key is not the raw secret, so a ticket MAC can never double as
// another HMAC made from the same secret (host tokens, auth cookies).
function ticketKey(secret) {
  return createHmac("sha256", secret).update("polyarch:console-ticket:v1").digest();
}

function mac(secret, body) {
  return createHmac("sha256", ticketKey(secret)).update(body).digest("base64url");
}

export function signConsoleTicket(secret, claims, opts = {}) {
  const now = opts.now ?? Date.now();
  const full = claimsSchema.parse({ v: 1, ...claims, exp: now + (opts.ttlMs ?? TICKET_TTL_MS), nonce: randomBytes(18).toString("base64url") });
  const body = Buffer.from(JSON.stringify(full)).toString("base64url");
  return { ticket: `${body}.${mac(secret, body)}`, claims: full };
}

/** What the database stores instead of the ticket: sha256 hex. */
export function ticketHash(ticket) {
  return createHash("sha256").update(String(ticket)).digest("hex");
}

/** Remembers spent nonces until their ticket expires (one process only: tests and tools; controllers use the database). */
export class NonceStore {
  #used = new Map();
  /** true the first time a nonce is spent, false on reuse */
  spend(nonce, exp, now = Date.now()) {
    for (const [n, e] of this.#used) if (e < now) this.#used.delete(n);
    if (this.#used.has(nonce)) return false;
    this.#used.set(nonce, exp);
    return true;
  }
  get size() {
    return this.#used.size;
  }
}

/**
 * Checks a ticket for VM `vmId` and console `kind`. Order matters: the signature first (a forged
 * ticket learns nothing), then expiry, then the VM and kind, and only then is the nonce spent —
 * in `nonces` when given; without it the caller spends the ticket (the database store).
 */
export function verifyConsoleTicket(secret, ticket, { vmId, kind = "serial", nonces, now = Date.now() }) {
  const fail = (status, reason) => ({ ok: false, status, reason });
  if (typeof ticket !== "string" || ticket.length > 4096) return fail(401, "missing or oversize ticket");
  const dot = ticket.indexOf(".");
  if (dot <= 0 || dot !== ticket.lastIndexOf(".")) return fail(401, "malformed ticket");
  const body = ticket.slice(0, dot);
  const sig = Buffer.from(ticket.slice(dot + 1), "base64url");
  const want = Buffer.from(mac(secret, body), "base64url");
  if (sig.length !== want.length || !timingSafeEqual(sig, want)) return fail(401, "invalid ticket signature");
  let parsed;
  try {
    parsed = claimsSchema.safeParse(JSON.parse(Buffer.from(body, "base64url").toString("utf8")));
  } catch {
    return fail(401, "malformed ticket");
  }
  if (!parsed.success) return fail(401, "malformed ticket");
  const claims = parsed.data;
  if (claims.exp <= now) return fail(401, "ticket expired");
  if (claims.exp > now + 5 * TICKET_TTL_MS) return fail(401, "ticket lifetime too long");
  if (claims.vmId !== vmId) return fail(403, "ticket is for another VM");
  if (claims.kind !== kind) return fail(403, `ticket is for the ${claims.kind} console`);
  if (nonces && !nonces.spend(claims.nonce, claims.exp, now)) return fail(401, "ticket already used");
  return { ok: true, claims };
}

/** Must equal lib/server/fleet.ts hostTokenFor (a test holds them together). */
export function hostTokenFor(secret, hostId, generation) {
  return "pah_" + createHmac("sha256", secret).update(`host-token:${hostId}:${generation}`).digest("base64url");
}

/** The controller secret exactly as lib/server/env.ts finds it: BETTER_AUTH_SECRET, else <data dir>/auth-secret. */
export function readControllerSecret(env = process.env) {
  if (env.BETTER_AUTH_SECRET) return env.BETTER_AUTH_SECRET;
  const file = join(/* turbopackIgnore: true */ resolve(/* turbopackIgnore: true */ env.POLYARCH_DATA_DIR ?? "./data"), "auth-secret");
  return existsSync(file) ? readFileSync(file, "utf8").trim() : null;
}
