import "server-only";
// The controller's typed client for the Agent API v1. One method per endpoint; responses are
// validated with the same zod schemas the agent uses; failures become AppErrors a user can act on.
import { z } from "zod";
import { AppError, type AppErrorCode } from "../errors";
import {
  agentErrorSchema,
  agentHostResponseSchema,
  agentImageEvictResponseSchema,
  agentVmListResponseSchema,
  vmStatusSchema,
  type VmAction,
  type VmSpecInput,
  type VmStatus,
} from "../schemas/agent-api";
import { hostTokenFor } from "./fleet";

export type AgentTarget = { id: string; name: string; agentUrl: string | null; tokenGeneration: number };

// PUT may download an image first; everything else answers quickly.
const TIMEOUT_MS = { short: 30_000, put: 15 * 60_000 };

const CODE_BY_STATUS: Record<number, AppErrorCode> = { 400: "invalid", 401: "unavailable", 404: "not_found", 409: "conflict", 413: "too_large", 422: "unprocessable" };

async function call<S extends z.ZodType>(host: AgentTarget, method: string, path: string, schema: S, body?: unknown, timeoutMs = TIMEOUT_MS.short): Promise<z.output<S>> {
  if (!host.agentUrl) throw new AppError({ code: "unavailable", message: `Host ${host.name} has no agent address yet.` });
  let res: Response;
  try {
    res = await fetch(new URL(path, host.agentUrl), {
      method,
      headers: { authorization: `Bearer ${hostTokenFor(host.id, host.tokenGeneration)}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    const why = error instanceof Error && error.name === "TimeoutError" ? `did not answer within ${Math.round(timeoutMs / 1000)} s` : "is not reachable";
    throw new AppError({ code: "unavailable", message: `The agent on host ${host.name} ${why}.` });
  }
  const json = await res.json().catch(() => null);
  if (!res.ok) {
    const parsed = agentErrorSchema.safeParse(json);
    const message = parsed.success ? parsed.data.error.message : `HTTP ${res.status}`;
    const code = res.status === 401 ? "unavailable" : (CODE_BY_STATUS[res.status] ?? "unavailable");
    throw new AppError({ code, message: res.status === 401 ? `Host ${host.name} refused the controller's token; restart its agent to register again.` : `Host ${host.name}: ${message}` , details: { status: res.status } });
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new AppError({ code: "unavailable", message: `The agent on host ${host.name} sent an unexpected answer.` });
  return parsed.data;
}

export const agentClient = {
  host: (h: AgentTarget) => call(h, "GET", "/v1/host", agentHostResponseSchema),
  listVms: (h: AgentTarget): Promise<VmStatus[]> => call(h, "GET", "/v1/vms", agentVmListResponseSchema).then((r) => r.vms),
  getVm: (h: AgentTarget, id: string) => call(h, "GET", `/v1/vms/${encodeURIComponent(id)}`, vmStatusSchema),
  putVm: (h: AgentTarget, id: string, spec: VmSpecInput) => call(h, "PUT", `/v1/vms/${encodeURIComponent(id)}`, vmStatusSchema, spec, TIMEOUT_MS.put),
  action: (h: AgentTarget, id: string, action: VmAction) => call(h, "POST", `/v1/vms/${encodeURIComponent(id)}/actions`, vmStatusSchema, { action }, 120_000),
  /** A VM the agent does not know is already gone: 404 counts as deleted. */
  deleteVm: async (h: AgentTarget, id: string): Promise<void> => {
    try {
      await call(h, "DELETE", `/v1/vms/${encodeURIComponent(id)}`, z.unknown(), undefined, 120_000);
    } catch (error) {
      if (error instanceof AppError && error.code === "not_found") return;
      throw error;
    }
  },
  /** Removes a cached image from the host: 404 (not cached) and 409 (a VM there uses it) reach the caller as AppErrors. */
  evictImage: (h: AgentTarget, imageId: string) => call(h, "DELETE", `/v1/images/${encodeURIComponent(imageId)}`, agentImageEvictResponseSchema),
};
