// Types for scripts/console-proxy.mjs (plain JS: scripts/server.mjs runs without a build).
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { ConsoleTicketClaims, NonceStore } from "./console-ticket.mjs";

export type SpendResult = { ok: true } | { ok: false; status?: 401 | 403 | 503; reason: string };

export declare function rejectUpgrade(socket: Duplex, status: number, code: string, message: string): void;
export declare function createConsoleProxy(opts: {
  getSecret: () => string | null;
  log?: (level: string, event: string, ctx?: Record<string, unknown>) => void;
  /** spends a verified ticket once (the database store); without it `nonces` does, in memory */
  spend?: ((ticket: string, claims: ConsoleTicketClaims) => Promise<SpendResult>) | null;
  nonces?: NonceStore;
  /** https agents: CA, pinned certificate check and client certificate for one host (docs/decisions/017-agent-tls.md) */
  agentTls?: ((hostId: string) => Promise<import("node:https").RequestOptions>) | null;
}): { handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void; closeAll(): void; readonly open: number };
