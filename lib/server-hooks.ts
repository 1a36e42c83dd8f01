// Typed hooks between the custom server (server/, bundled by esbuild into dist/server.mjs) and the
// Next.js app (bundled by Next into .next/server) that run in one Node process. The app registers
// what the server needs but cannot have itself — it has no database, no env() and no PKI of its
// own (docs/decisions/021-typescript-server.md) — and the server publishes what only it knows.
//
// Why a slot on globalThis rather than module state: each bundle gets its own copy of this module
// (Next compiles it into the app's chunks, esbuild into dist/server.mjs), so a module variable set
// by one side is invisible to the other. Both copies find the same object under one registered
// symbol; the shapes are declared here once and both sides import them, so they cannot drift.
import type { RequestOptions } from "node:https";
import type { ConsoleTicketClaims, SpendResult } from "./console-ticket";
import type { ConsoleKind } from "./schemas/console";

/** The cluster CA and the controller's certificate + key (lib/server/platform/pki.ts `Pki` satisfies it). */
export interface ControllerPki {
  caCertPem: string;
  controllerCertPem: string;
  controllerKeyPem: string;
}

/** One open console as the proxy knows it: the ticket's claims and the session cookie it was opened with. */
export interface OpenConsoleGrant {
  /** unique per open console (the ticket's nonce) */
  key: string;
  userId: string;
  vmId: string;
  kind: ConsoleKind;
  write: boolean;
  /** the upgrade request's Cookie header: a browser console ends with the session it was opened in */
  cookie: string | null;
}

/** A heartbeat as the agent TLS listener received it (its channel is that listener, by construction). */
export interface AgentHeartbeatCall {
  authorization: string | null;
  /** SHA-256 of the client certificate that verified against the cluster CA, or null */
  clientCertFingerprint: string | null;
  /** the request body, read once on demand; null when it is longer than maxBytes */
  body(maxBytes: number): Promise<Buffer | null>;
}

/** The answer to write back: status, headers, body (JSON text). */
export interface AgentHookAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** App → server: registered by lib/server/startup when Next runs the instrumentation hook. */
export interface AppHooks {
  /** The controller secret (env().secret): console tickets are signed with it, host tokens derived from it. */
  controllerSecret(): string;
  /** Spends a console ticket whose signature the server checked, once, in the shared database (ADR 013). */
  spendConsoleTicket(ticket: string, claims: ConsoleTicketClaims): Promise<SpendResult>;
  /**
   * Re-checks the open consoles of this process against the database, in one batch (ADR 029): the
   * `key` of each console no longer allowed → why (the close reason the browser shows).
   */
  recheckConsoles(consoles: readonly OpenConsoleGrant[]): Promise<Record<string, string>>;
  /** TLS options to reach one host's agent: the CA, the host's pinned certificate, the controller's client certificate (ADR 017). */
  agentTlsForHost(hostId: string): Promise<RequestOptions>;
  /** The certificate the agent TLS listener serves (created on the first start; ADR 017). */
  controllerPki(): Promise<ControllerPki>;
  /**
   * POST /api/agent/v1/heartbeat answered by the app without Next's request pipeline (ADR 043):
   * the same authentication, validation and handling as app/api/agent/v1/heartbeat/route.ts.
   */
  agentHeartbeat(call: AgentHeartbeatCall): Promise<AgentHookAnswer>;
}

/** Server → app: set by the custom server (server/agent-tls-listener.ts). */
export interface ServerHooks {
  /** Random per-process value the agent TLS listener puts in CHANNEL_HEADER (lib/agent-tls.ts). */
  agentTlsChannel: string;
  /**
   * Re-checks this process's open consoles now (server/console-proxy.ts): the app calls it after a
   * change that may revoke one. Only a shortcut: the proxy re-checks every 2 s anyway (ADR 029).
   */
  consolesChanged(): void;
}

interface Slot {
  app: Partial<AppHooks>;
  server: Partial<ServerHooks>;
}

const SLOT: unique symbol = Symbol.for("polyarch.serverHooks");

function slot(): Slot {
  const g = globalThis as typeof globalThis & { [SLOT]?: Slot };
  return (g[SLOT] ??= { app: {}, server: {} });
}

export function registerAppHooks(hooks: AppHooks): void {
  slot().app = { ...hooks };
}

/** The app's hooks, each undefined until the app has started (the server answers 503 then). */
export function appHooks(): Readonly<Partial<AppHooks>> {
  return slot().app;
}

export function registerServerHooks(hooks: Partial<ServerHooks>): void {
  Object.assign(slot().server, hooks);
}

export function serverHooks(): Readonly<Partial<ServerHooks>> {
  return slot().server;
}
