// Console tickets: short-lived, single-use, HMAC-signed grants to open one VM's serial console or
// graphical (VNC) console (docs/decisions/010 and 013). Pure: the app signs them
// (lib/server/consoles) and the custom server's console proxy verifies them (server/console-proxy.ts).
// The signature makes forgeries cheap to refuse; single use is a database row
// (lib/server/consoles/tickets.ts) so that every controller shares it.
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { z } from "zod";
import { consoleKindSchema, type ConsoleKind } from "./schemas/console";

export const TICKET_TTL_MS = 30_000;

const claimsSchema = z
  .object({
    v: z.literal(1),
    vmId: z.string().min(1).max(200),
    userId: z.string().min(1).max(200),
    write: z.boolean(),
    /** absent in tickets from before VNC: serial */
    kind: consoleKindSchema.default("serial"),
    agentUrl: z
      .string()
      .url()
      .refine((u) => /^https?:\/\//.test(u), "agentUrl must be http(s)"),
    hostId: z.string().min(1).max(200),
    /** the host's tokenGeneration, to derive the host token */
    gen: z.number().int().min(0),
    /** expiry, ms since the epoch */
    exp: z.number().int(),
    nonce: z.string().regex(/^[A-Za-z0-9_-]{16,64}$/),
  })
  .strict();

export type ConsoleTicketClaims = z.output<typeof claimsSchema>;
export type ConsoleTicketInput = Omit<ConsoleTicketClaims, "v" | "exp" | "nonce" | "kind"> & { kind?: ConsoleKind };
export type VerifyResult = { ok: true; claims: ConsoleTicketClaims } | { ok: false; status: 401 | 403; reason: string };
/** The answer of the database store that spends a verified ticket (503: no store in this process yet). */
export type SpendResult = { ok: true } | { ok: false; status: 401 | 403 | 503; reason: string };

// Domain separation: the ticket key is not the raw secret, so a ticket MAC can never double as
// another HMAC made from the same secret (host tokens, auth cookies).
function ticketKey(secret: string): Buffer {
  return createHmac("sha256", secret).update("polyarch:console-ticket:v1").digest();
}

function mac(secret: string, body: string): string {
  return createHmac("sha256", ticketKey(secret)).update(body).digest("base64url");
}

export function signConsoleTicket(
  secret: string,
  claims: ConsoleTicketInput,
  opts: { now?: number; ttlMs?: number } = {},
): { ticket: string; claims: ConsoleTicketClaims } {
  const now = opts.now ?? Date.now();
  const full = claimsSchema.parse({
    v: 1,
    ...claims,
    exp: now + (opts.ttlMs ?? TICKET_TTL_MS),
    nonce: randomBytes(18).toString("base64url"),
  });
  const body = Buffer.from(JSON.stringify(full)).toString("base64url");
  return { ticket: `${body}.${mac(secret, body)}`, claims: full };
}

/** What the database stores instead of the ticket: sha256 hex. */
export function ticketHash(ticket: string): string {
  return createHash("sha256").update(String(ticket)).digest("hex");
}

/** Remembers spent nonces until their ticket expires (one process only: tests and tools; controllers use the database). */
export class NonceStore {
  #used = new Map<string, number>();
  /** true the first time a nonce is spent, false on reuse */
  spend(nonce: string, exp: number, now = Date.now()): boolean {
    for (const [n, e] of this.#used) if (e < now) this.#used.delete(n);
    if (this.#used.has(nonce)) return false;
    this.#used.set(nonce, exp);
    return true;
  }
  get size(): number {
    return this.#used.size;
  }
}

/**
 * Checks a ticket for VM `vmId` and console `kind`. Order matters: the signature first (a forged
 * ticket learns nothing), then expiry, then the VM and kind, and only then is the nonce spent —
 * in `nonces` when given; without it the caller spends the ticket (the database store).
 */
export function verifyConsoleTicket(
  secret: string,
  ticket: unknown,
  opts: { vmId: string; kind?: ConsoleKind; nonces?: NonceStore; now?: number },
): VerifyResult {
  const { vmId, kind = "serial", nonces, now = Date.now() } = opts;
  const fail = (status: 401 | 403, reason: string): VerifyResult => ({ ok: false, status, reason });
  if (typeof ticket !== "string" || ticket.length > 4096) return fail(401, "missing or oversize ticket");
  const dot = ticket.indexOf(".");
  if (dot <= 0 || dot !== ticket.lastIndexOf(".")) return fail(401, "malformed ticket");
  const body = ticket.slice(0, dot);
  const sig = Buffer.from(ticket.slice(dot + 1), "base64url");
  const want = Buffer.from(mac(secret, body), "base64url");
  if (sig.length !== want.length || !timingSafeEqual(sig, want)) return fail(401, "invalid ticket signature");
  let parsed: ReturnType<typeof claimsSchema.safeParse>;
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
