// The agent API's router routes (issue 18, ADR 058): PUT /v1/routers/:vlan creates or replaces the
// VLAN's router on this host (SNAT, floating IPs), DELETE removes it, GET /v1/routers lists them.
// server.ts authenticates first; bodies are validated completely before anything is touched.
import type http from "node:http";
import { routerSpecSchema, routerVlanSchema, type RouterStatus } from "../../../lib/schemas/agent-router";
import { HttpError } from "./body";

/** What the routes need (RouterService satisfies it). */
export interface RouterBackend {
  readonly externalNetwork: boolean;
  list(): RouterStatus[];
  put(vlan: number, spec: unknown): Promise<RouterStatus>;
  delete(vlan: number): Promise<boolean>;
}

export interface RouterRouteDeps {
  routers: RouterBackend | undefined;
  readJson(req: http.IncomingMessage): Promise<unknown>;
  send(res: http.ServerResponse, status: number, body: unknown): void;
}

export async function handleRouterRoute(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  rawVlan: string | null,
  deps: RouterRouteDeps,
): Promise<void> {
  if (rawVlan === null) return deps.send(res, 200, { routers: deps.routers?.list() ?? [] });
  const vlan = routerVlanSchema.safeParse(rawVlan);
  if (!vlan.success) throw new HttpError(400, "invalid", `invalid VLAN "${rawVlan.slice(0, 20)}": 0..4094`);
  if (req.method === "DELETE") {
    const deleted = deps.routers ? await deps.routers.delete(vlan.data) : false;
    return deps.send(res, 200, { vlan: vlan.data, deleted });
  }
  const parsed = routerSpecSchema.safeParse(await deps.readJson(req));
  if (!parsed.success) {
    const why = parsed.error.issues
      .slice(0, 5)
      .map((i) => (i.path.length ? `${i.path.join(".")}: ${i.message}` : i.message))
      .join("; ");
    throw new HttpError(400, "invalid", `invalid router: ${why}`);
  }
  if (!deps.routers?.externalNetwork)
    throw new HttpError(409, "conflict", "this host has no external network (agent option --external-bridge)");
  deps.send(res, 200, await deps.routers.put(vlan.data, parsed.data));
}
