// Types for scripts/console-ticket.mjs (plain JS so scripts/server.mjs runs without a build).
export declare const TICKET_TTL_MS: number;
export type ConsoleKind = "serial" | "vnc";
export declare const CONSOLE_KINDS: readonly ConsoleKind[];

export interface ConsoleTicketClaims {
  v: 1;
  vmId: string;
  userId: string;
  write: boolean;
  kind: ConsoleKind;
  agentUrl: string;
  hostId: string;
  /** the host's tokenGeneration, to derive the host token */
  gen: number;
  /** expiry, ms since the epoch */
  exp: number;
  nonce: string;
}

export declare function signConsoleTicket(
  secret: string,
  claims: Omit<ConsoleTicketClaims, "v" | "exp" | "nonce" | "kind"> & { kind?: ConsoleKind },
  opts?: { now?: number; ttlMs?: number },
): { ticket: string; claims: ConsoleTicketClaims };

export declare class NonceStore {
  spend(nonce: string, exp: number, now?: number): boolean;
  readonly size: number;
}

export type VerifyResult = { ok: true; claims: ConsoleTicketClaims } | { ok: false; status: 401 | 403; reason: string };

export declare function verifyConsoleTicket(secret: string, ticket: unknown, opts: { vmId: string; kind?: ConsoleKind; nonces?: NonceStore; now?: number }): VerifyResult;
export declare function ticketHash(ticket: string): string;
export declare function hostTokenFor(secret: string, hostId: string, generation: number): string;
export declare function readControllerSecret(env?: Record<string, string | undefined>): string | null;
