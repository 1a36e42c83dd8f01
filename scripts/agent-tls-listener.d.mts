// Types for scripts/agent-tls-listener.mjs (plain JS so scripts/server.mjs runs without a build).
import type { IncomingMessage, ServerResponse } from "node:http";
import type https from "node:https";
import type { TLSSocket } from "node:tls";

export declare const CLIENT_CERT_HEADER: "x-polyarch-client-cert-fingerprint";
export declare const CHANNEL_HEADER: "x-polyarch-agent-channel";

export interface AgentTlsPki {
  caCertPem: string;
  controllerCertPem: string;
  controllerKeyPem: string;
}
export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => unknown;
export type ListenerLog = (level: "error", event: string, ctx?: Record<string, unknown>) => void;

export declare function isAgentTlsPath(rawUrl: string | undefined): boolean;
export declare function stripAgentTlsHeaders(req: IncomingMessage): void;
export declare function verifiedClientFingerprint(socket: TLSSocket | import("node:net").Socket | null | undefined): string | null;
export declare function agentTlsRequestHandler(handle: RequestHandler, log?: ListenerLog): (req: IncomingMessage, res: ServerResponse) => void;
export declare function agentTlsServerOptions(pki: AgentTlsPki): https.ServerOptions;
export declare function createAgentTlsServer(pki: AgentTlsPki, handle: RequestHandler, log?: ListenerLog): https.Server;
export declare function agentTlsChannel(headers: Headers): { tls: boolean; clientCertFingerprint: string | null };
