// Types for scripts/console-proxy.mjs (plain JS: scripts/server.mjs runs without a build).
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { NonceStore } from "./console-ticket.mjs";

export declare function rejectUpgrade(socket: Duplex, status: number, code: string, message: string): void;
export declare function createConsoleProxy(opts: {
  getSecret: () => string | null;
  log?: (level: string, event: string, ctx?: Record<string, unknown>) => void;
  nonces?: NonceStore;
}): { handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void; closeAll(): void; readonly open: number };
