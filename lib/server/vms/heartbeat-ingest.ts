import "server-only";
// POST /api/agent/v1/heartbeat, the one request every agent sends every few seconds: the route
// handler (app/api/agent/v1/heartbeat/route.ts) and the agent TLS listener's fast path (the
// `agentHeartbeat` app hook, ADR 043: no Next request pipeline) both come here. Order as before:
// the agent channel, the token (401/403 before the body is read), then the body (size cap, JSON,
// zod), then the heartbeat itself.
import type { AgentHeartbeatCall, AgentHookAnswer } from "../../server-hooks";
import { AppError } from "../../errors";
import { heartbeatRequestSchema, type HeartbeatResponse } from "../../schemas/agent-api";
import { bearerToken, checkHostCredentials, requireAgentTls, sha256, type AgentChannel } from "../hosts";
import { errorResponse, parseOrThrow } from "../platform";
import { heartbeatRows } from "./heartbeat-rows";
import { applyHeartbeat } from "./status";

/** Full facts, 10,000 VMs and their metrics fit; anything larger is refused (413). */
export const MAX_HEARTBEAT_BYTES = 8 * 1024 * 1024;

const tooLarge = () =>
  new AppError({ code: "too_large", message: `Request body is larger than ${MAX_HEARTBEAT_BYTES} bytes.` });

/** A heartbeat from `channel` with this Authorization header; `readBody` yields the parsed JSON (or throws an AppError). */
export async function ingestHeartbeat(
  authorization: string | null,
  channel: AgentChannel,
  readBody: () => Promise<unknown>,
): Promise<HeartbeatResponse> {
  requireAgentTls(channel);
  const token = bearerToken(authorization);
  const rows = token ? await heartbeatRows({ tokenHash: sha256(token) }) : null;
  const host = checkHostCredentials(rows?.host ?? null, channel, { allowPending: true });
  const input = parseOrThrow(heartbeatRequestSchema, await readBody(), "request body");
  return applyHeartbeat(host, rows!.vms, input);
}

/** Parses a body read whole; malformed JSON is the client's error (400), never a 500. */
export function parseJsonBody(body: Buffer | null): unknown {
  if (body === null) throw tooLarge();
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    throw new AppError({ code: "invalid", message: "Request body is not valid JSON." });
  }
}

/** The `agentHeartbeat` app hook: the listener vouches for the channel and the client certificate. */
export async function agentHeartbeatHook(call: AgentHeartbeatCall): Promise<AgentHookAnswer> {
  try {
    const answer = await ingestHeartbeat(
      call.authorization,
      { tls: true, clientCertFingerprint: call.clientCertFingerprint },
      () => call.body(MAX_HEARTBEAT_BYTES).then(parseJsonBody),
    );
    return { status: 200, headers: { "content-type": "application/json" }, body: JSON.stringify(answer) };
  } catch (error) {
    const res = errorResponse(error, { route: "agent.heartbeat" });
    return { status: res.status, headers: Object.fromEntries(res.headers), body: await res.text() };
  }
}
